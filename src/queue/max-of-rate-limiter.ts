import { InvalidArgumentError, describe } from "./errors.js";
import type { RateLimiter } from "./rate-limiter.js";

/**
 * Asks every limiter and waits the longest (client-go's MaxOfRateLimiter),
 * e.g. per-item backoff combined with an overall bucket.
 */
export class MaxOfRateLimiter<K = string> implements RateLimiter<K> {
  private readonly limiters: readonly RateLimiter<K>[];

  constructor(...limiters: RateLimiter<K>[]) {
    if (limiters.length === 0) {
      throw new InvalidArgumentError("MaxOfRateLimiter.limiters", "needs at least one rate limiter");
    }
    limiters.forEach((l, i) => checkRateLimiter(`MaxOfRateLimiter.limiters[${i}]`, l));
    this.limiters = limiters;
  }

  when(item: K): number {
    let max = 0;
    // Every limiter is asked (each counts the retry), not just until the largest.
    for (const l of this.limiters) max = Math.max(max, l.when(item));
    return max;
  }

  forget(item: K): void {
    for (const l of this.limiters) l.forget(item);
  }

  numRequeues(item: K): number {
    let max = 0;
    for (const l of this.limiters) max = Math.max(max, l.numRequeues(item));
    return max;
  }
}

/** Throws unless `l` has the three RateLimiter methods. */
export function checkRateLimiter(path: string, l: unknown): asserts l is RateLimiter<unknown> {
  const r = l as Partial<RateLimiter<unknown>> | null;
  if (r === null || typeof r !== "object" || typeof r.when !== "function" || typeof r.forget !== "function" || typeof r.numRequeues !== "function") {
    throw new InvalidArgumentError(path, `must be a rate limiter with when, forget and numRequeues methods, got ${describe(l)}`);
  }
}
