import type { CliIO } from "./cli-io.js";

/** What the progress line shows, sampled on every redraw. */
export interface ProgressSample {
  converged: number;
  total: number;
  reconciles: number;
  retries: number;
  elapsedMs: number;
  /** NATS is away: said instead of a rate that would only read 0. */
  natsUnavailable?: boolean;
}

/** `bar`: one line redrawn in place (a TTY); `lines`: a plain line per second (a pipe, a log); `off`: nothing. */
export type ProgressMode = "bar" | "lines" | "off";

const BAR_INTERVAL_MS = 100;
const LINE_INTERVAL_MS = 1_000;
const BAR_WIDTH = 24;
/** Reconciles/s is measured over about this long, so the bar's figure does not flicker. */
const RATE_WINDOW_MS = 1_000;

/**
 * Live progress of a demo run. Its timer is the only one it owns and `stop()`
 * clears it, so a finished run leaves nothing that keeps the process alive.
 */
export class ProgressReporter {
  readonly #io: CliIO;
  readonly #sample: () => ProgressSample;
  readonly #mode: ProgressMode;
  #timer: ReturnType<typeof setInterval> | undefined;
  // Recent (elapsedMs, reconciles) pairs for the rate; oldest first.
  #history: { at: number; reconciles: number }[] = [];
  #drawn = false;

  constructor(io: CliIO, sample: () => ProgressSample, mode: ProgressMode) {
    this.#io = io;
    this.#sample = sample;
    this.#mode = mode;
  }

  start(): void {
    if (this.#mode === "off" || this.#timer !== undefined) return;
    this.#history = [{ at: 0, reconciles: 0 }];
    this.#timer = setInterval(() => this.#tick(), this.#mode === "bar" ? BAR_INTERVAL_MS : LINE_INTERVAL_MS);
  }

  /** Prints `line` to stderr without leaving half a progress bar in front of it. */
  printAbove(line: string): void {
    if (this.#drawn) {
      this.#io.stdout.write("\r\x1b[K");
      this.#drawn = false;
    }
    this.#io.stderr.write(`${line}\n`);
  }

  /** Stops redrawing; a bar gets its final state and a newline. */
  stop(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#mode === "bar") {
      this.#tick();
      this.#io.stdout.write("\n");
      this.#drawn = false;
    }
  }

  #tick(): void {
    const sample = this.#sample();
    const rate = this.#rate(sample);
    if (this.#mode === "bar") {
      this.#io.stdout.write(`\r${formatBar(sample, rate)}\x1b[K`);
      this.#drawn = true;
    } else {
      this.#io.stdout.write(`${formatLine(sample, rate)}\n`);
    }
  }

  #rate(sample: ProgressSample): number {
    const history = this.#history;
    history.push({ at: sample.elapsedMs, reconciles: sample.reconciles });
    while (history.length > 2 && sample.elapsedMs - history[1].at >= RATE_WINDOW_MS) history.shift();
    const oldest = history[0];
    const ms = sample.elapsedMs - oldest.at;
    return ms > 0 ? ((sample.reconciles - oldest.reconciles) * 1_000) / ms : 0;
  }
}

function formatBar(s: ProgressSample, rate: number): string {
  const filled = s.total === 0 ? BAR_WIDTH : Math.floor((s.converged / s.total) * BAR_WIDTH);
  const bar = "#".repeat(filled) + "-".repeat(BAR_WIDTH - filled);
  return `[${bar}] ${s.converged}/${s.total} converged | ${s.natsUnavailable ? "NATS unavailable" : `${Math.round(rate)} reconciles/s`} | ${s.retries} retries | ${seconds(s.elapsedMs)}`;
}

function formatLine(s: ProgressSample, rate: number): string {
  return `${s.converged}/${s.total} converged, ${s.natsUnavailable ? "NATS unavailable" : `${Math.round(rate)} reconciles/s`}, ${s.retries} retries, ${seconds(s.elapsedMs)} elapsed`;
}

function seconds(ms: number): string {
  return `${(ms / 1_000).toFixed(1)} s`;
}
