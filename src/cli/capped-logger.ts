import { formatLog, type LogFields, type Logger } from "../reconcile/logger.js";

/**
 * The demo's logger: warn level, and at most `maxWarnings` warnings printed.
 * A demo with a fail rate fails on purpose thousands of times; each retry is a
 * controller warning, and the summary counts them — printing them all would
 * bury the progress line. Errors are always printed.
 */
export class CappedLogger implements Logger {
  readonly #print: (line: string) => void;
  readonly #maxWarnings: number;
  #warnings = 0;

  constructor(print: (line: string) => void, maxWarnings = 3) {
    this.#print = print;
    this.#maxWarnings = maxWarnings;
  }

  /** Warnings seen but not printed. */
  get suppressed(): number {
    return Math.max(0, this.#warnings - this.#maxWarnings);
  }

  debug(_first: string | LogFields, ..._rest: unknown[]): void {}

  info(_first: string | LogFields, ..._rest: unknown[]): void {}

  warn(first: string | LogFields, ...rest: unknown[]): void {
    this.#warnings++;
    if (this.#warnings <= this.#maxWarnings) this.#print(formatLog("warn", first, rest));
    if (this.#warnings === this.#maxWarnings + 1) this.#print("[WARN] (further warnings are counted, not printed)");
  }

  error(first: string | LogFields, ...rest: unknown[]): void {
    this.#print(formatLog("error", first, rest));
  }
}
