import { formatLine, type Logger } from "../reconcile/logger.js";

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

  debug(_message: string, ..._args: unknown[]): void {}

  info(_message: string, ..._args: unknown[]): void {}

  warn(message: string, ...args: unknown[]): void {
    this.#warnings++;
    if (this.#warnings <= this.#maxWarnings) this.#print(formatLine("warn", message, args));
    if (this.#warnings === this.#maxWarnings + 1) this.#print("[WARN] (further warnings are counted, not printed)");
  }

  error(message: string, ...args: unknown[]): void {
    this.#print(formatLine("error", message, args));
  }
}
