/**
 * Base class of every error converge throws on purpose. `code` is stable and
 * machine-readable; `message` is for people and names what was wrong.
 */
export class ConvergeError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An input from outside (a name, an event, an option, a stored value) failed validation. */
export class ValidationError extends ConvergeError {
  /** Where the bad value was found, e.g. `"resource.uid"` or `"event.type"`. */
  readonly path: string;
  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super("ERR_VALIDATION", `${path}: ${message}`, options);
    this.path = path;
  }
}
