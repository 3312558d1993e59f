/**
 * A bad argument to a queue, scheduler or rate limiter: a handle that is not
 * a small non-negative integer, a delay that is not a number, a rate that is
 * not positive and finite.
 *
 * `queue/` depends on nothing else of ours (DESIGN.md layering), so this does
 * not extend `ConvergeError`; it has the same shape (`code`, `path`, message
 * `"<path>: <what is wrong>"`) as `ValidationError`, so callers can treat both alike.
 */
export class InvalidArgumentError extends RangeError {
  readonly code = "ERR_INVALID_ARGUMENT";
  /** The argument that was wrong, e.g. `"ExponentialBackoffRateLimiter.baseMs"`. */
  readonly path: string;
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = new.target.name;
    this.path = path;
  }
}

/** Largest handle: handles index typed arrays and live in an Int32Array ring. */
export const MAX_HANDLE = 0x7fffffff;

/** Throws unless `h` is an integer in 0..2^31-1. */
export function checkHandle(where: string, h: number): void {
  // `h | 0` truncates and wraps anything outside int32, so equality means a
  // non-negative int32 (NaN, fractions, strings and 2^31+ all fail).
  if ((h | 0) !== h || h < 0) {
    throw new InvalidArgumentError(where, `handle must be an integer in 0..${MAX_HANDLE}, got ${describe(h)}`);
  }
}

/** A short, safe rendering of a bad value for an error message. */
export function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint" || v == null) return String(v);
  if (typeof v === "function") return "a function";
  return Array.isArray(v) ? "an array" : `a ${typeof v}`;
}

/** Smallest power of two >= n (n >= 1), at least `min`. */
export function pow2AtLeast(n: number, min: number): number {
  let c = min;
  while (c < n) c *= 2;
  return c;
}
