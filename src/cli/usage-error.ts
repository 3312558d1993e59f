import { ConvergeError } from "../codec/errors.js";

/**
 * A bad command line: an unknown subcommand or flag, a missing or invalid flag
 * value. The CLI prints it with the usage and exits 2.
 */
export class UsageError extends ConvergeError {
  /** The flag or subcommand that was wrong, e.g. `"--devices"`; undefined when none applies. */
  readonly flag: string | undefined;
  constructor(flag: string | undefined, message: string, options?: { cause?: unknown }) {
    super("ERR_USAGE", flag === undefined ? message : `${flag}: ${message}`, options);
    this.flag = flag;
  }
}
