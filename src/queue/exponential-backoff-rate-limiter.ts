import { InvalidArgumentError, describe } from "./errors.js";
import type { RateLimiter } from "./rate-limiter.js";

export interface ExponentialBackoffOptions {
  /**
   * Fraction 0..1 of each delay that is randomised away: a delay `d` becomes
   * a value in `[d * (1 - jitter), d]`. Spreading downward keeps the cap a cap
   * and still scatters a herd of keys that all hit it. Default 0.
   */
  jitter?: number;
  /** Source of uniform numbers in [0, 1); default `Math.random` (for tests). */
  random?: () => number;
}

/**
 * Per-item exponential backoff: the n-th retry of an item (from 0) waits
 * `min(baseMs * 2^n, maxMs)` (client-go's ItemExponentialFailureRateLimiter).
 */
export class ExponentialBackoffRateLimiter<K = string> implements RateLimiter<K> {
  private readonly failures = new Map<K, number>();
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly jitter: number;
  private readonly random: () => number;

  constructor(baseMs: number, maxMs: number, options: ExponentialBackoffOptions = {}) {
    positiveFinite("ExponentialBackoffRateLimiter.baseMs", baseMs);
    positiveFinite("ExponentialBackoffRateLimiter.maxMs", maxMs);
    if (baseMs > maxMs) {
      throw new InvalidArgumentError("ExponentialBackoffRateLimiter.baseMs", `must not exceed maxMs (${maxMs}), got ${baseMs}`);
    }
    if (options === null || typeof options !== "object") {
      throw new InvalidArgumentError("ExponentialBackoffRateLimiter.options", `must be an object, got ${describe(options)}`);
    }
    const jitter = options.jitter ?? 0;
    if (typeof jitter !== "number" || !(jitter >= 0 && jitter <= 1)) {
      throw new InvalidArgumentError("ExponentialBackoffRateLimiter.options.jitter", `must be a number in 0..1, got ${describe(jitter)}`);
    }
    if (options.random !== undefined && typeof options.random !== "function") {
      throw new InvalidArgumentError("ExponentialBackoffRateLimiter.options.random", `must be a function, got ${describe(options.random)}`);
    }
    this.baseMs = baseMs;
    this.maxMs = maxMs;
    this.jitter = jitter;
    this.random = options.random ?? Math.random;
  }

  when(item: K): number {
    const n = this.failures.get(item) ?? 0;
    this.failures.set(item, n + 1);
    // 2^n overflows to Infinity past n = 1023, and `!(d <= max)` also catches
    // NaN: once past max the delay stays max however many failures follow.
    let d = this.baseMs * 2 ** n;
    if (!(d <= this.maxMs)) d = this.maxMs;
    return this.jitter === 0 ? d : d - d * this.jitter * this.random();
  }

  forget(item: K): void {
    this.failures.delete(item);
  }

  numRequeues(item: K): number {
    return this.failures.get(item) ?? 0;
  }
}

export function positiveFinite(path: string, v: number): void {
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
    throw new InvalidArgumentError(path, `must be a positive finite number, got ${describe(v)}`);
  }
}
