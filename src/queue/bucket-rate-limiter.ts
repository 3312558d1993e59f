import { type Clock, checkClock, realClock } from "./clock.js";
import { InvalidArgumentError, describe } from "./errors.js";
import { positiveFinite } from "./exponential-backoff-rate-limiter.js";
import type { RateLimiter } from "./rate-limiter.js";

export interface BucketRateLimiterOptions {
  /** Where the refill reads the time; default `realClock` (`performance.now()`). Tests pass a `FakeClock`. */
  clock?: Pick<Clock, "now">;
}

/**
 * Overall token bucket (client-go's BucketRateLimiter over x/time/rate): up to
 * `burst` retries at once, then `qps` per second. Each `when` reserves a token
 * and returns how long to wait for it (0 when one is available); items are
 * not told apart, so `forget` does nothing and `numRequeues` is 0.
 */
export class BucketRateLimiter<K = string> implements RateLimiter<K> {
  private readonly qps: number;
  private readonly burst: number;
  private readonly clock: Pick<Clock, "now">;
  // May go negative: reservations made ahead of the refill.
  private tokens: number;
  private last: number;

  constructor(qps: number, burst: number, options: BucketRateLimiterOptions = {}) {
    positiveFinite("BucketRateLimiter.qps", qps);
    if (!Number.isSafeInteger(burst) || burst < 1) {
      throw new InvalidArgumentError("BucketRateLimiter.burst", `must be a positive integer, got ${describe(burst)}`);
    }
    if (options === null || typeof options !== "object") {
      throw new InvalidArgumentError("BucketRateLimiter.options", `must be an object, got ${describe(options)}`);
    }
    const clock = options.clock ?? realClock;
    checkClock("BucketRateLimiter.options.clock", clock, false);
    this.qps = qps;
    this.burst = burst;
    this.clock = clock;
    this.tokens = burst;
    this.last = clock.now();
  }

  when(_item: K): number {
    const t = this.clock.now();
    if (t > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.qps) / 1000);
      this.last = t;
    }
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens * 1000) / this.qps;
  }

  forget(_item: K): void {}

  numRequeues(_item: K): number {
    return 0;
  }
}
