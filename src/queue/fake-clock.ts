import type { Clock, ClockTimer } from "./clock.js";
import { MAX_TIMER_MS } from "./clock.js";
import { InvalidArgumentError, describe } from "./errors.js";

export interface FakeClockOptions {
  /** The time `now()` starts at, ms; default 0. */
  startMs?: number;
  /**
   * Every timer runs this many ms before its time (default 0), though never
   * before half its delay has passed: the way a runtime timer fires early when
   * its loop clock lags, so a test can check that a caller re-reads `now()`
   * instead of trusting the timer.
   */
  earlyByMs?: number;
}

class FakeTimer implements ClockTimer {
  stopped = false;
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;

  constructor(at: number, seq: number, fn: () => void) {
    this.at = at;
    this.seq = seq;
    this.fn = fn;
  }

  stop(): void {
    this.stopped = true;
  }

  unref(): void {}

  ref(): void {}
}

/**
 * A clock for tests (client-go's testing.FakeClock): time moves only when
 * `step` moves it, and `step` runs the timers that fall due on the way, in
 * time order, each with `now()` at its time. Deterministic: no real timer runs.
 *
 * It holds callers to the runtime's limit: a delay past `MAX_TIMER_MS` throws
 * (Node would fire it after 1 ms instead).
 */
export class FakeClock implements Clock {
  private time: number;
  private readonly earlyBy: number;
  private timers: FakeTimer[] = [];
  private seq = 0;
  private fired = 0;
  private readonly delays: number[] = [];

  constructor(options: FakeClockOptions = {}) {
    const { startMs = 0, earlyByMs = 0 } = options;
    if (typeof startMs !== "number" || !Number.isFinite(startMs)) {
      throw new InvalidArgumentError("FakeClock.options.startMs", `must be a finite number of ms, got ${describe(startMs)}`);
    }
    if (typeof earlyByMs !== "number" || !(earlyByMs >= 0 && earlyByMs < Infinity)) {
      throw new InvalidArgumentError("FakeClock.options.earlyByMs", `must be a finite number of ms >= 0, got ${describe(earlyByMs)}`);
    }
    this.time = startMs;
    this.earlyBy = earlyByMs;
  }

  now(): number {
    return this.time;
  }

  afterFunc(ms: number, fn: () => void): ClockTimer {
    if (typeof ms !== "number" || !(ms >= 0)) {
      throw new InvalidArgumentError("FakeClock.afterFunc", `ms must be a number >= 0, got ${describe(ms)}`);
    }
    if (ms > MAX_TIMER_MS) {
      throw new InvalidArgumentError("FakeClock.afterFunc", `ms must be at most ${MAX_TIMER_MS} (a runtime timer would fire after 1 ms), got ${ms}`);
    }
    if (typeof fn !== "function") {
      throw new InvalidArgumentError("FakeClock.afterFunc", `fn must be a function, got ${describe(fn)}`);
    }
    this.delays.push(ms);
    const t = new FakeTimer(this.time + Math.max(ms / 2, ms - this.earlyBy), this.seq++, fn);
    // Sorted by (at, seq); tests hold few timers, so insertion is fine.
    let i = this.timers.length;
    while (i > 0 && this.timers[i - 1].at > t.at) i--;
    this.timers.splice(i, 0, t);
    return t;
  }

  /** Moves time forward by `ms`, running every timer that falls due on the way (also ones they arm). */
  step(ms: number): void {
    if (typeof ms !== "number" || !(ms >= 0 && ms < Infinity)) {
      throw new InvalidArgumentError("FakeClock.step", `ms must be a finite number >= 0, got ${describe(ms)}`);
    }
    const end = this.time + ms;
    for (;;) {
      this.timers = this.timers.filter((t) => !t.stopped);
      const next = this.timers[0];
      if (next === undefined || next.at > end) break;
      this.timers.shift();
      if (next.at > this.time) this.time = next.at;
      this.fired++;
      next.fn();
    }
    this.time = end;
  }

  /** Timers armed and not yet run or stopped. */
  pending(): number {
    return this.timers.filter((t) => !t.stopped).length;
  }

  /** How many timers have run so far (wake-ups). */
  firedCount(): number {
    return this.fired;
  }

  /** Every delay passed to `afterFunc` so far, in order. */
  requestedDelays(): readonly number[] {
    return this.delays;
  }
}
