import { ExponentialBackoffRateLimiter } from "./exponential-backoff-rate-limiter.js";
import type { RateLimiter } from "./rate-limiter.js";

/**
 * The controller's default: per-key exponential backoff from 5 ms to 1000 s,
 * client-go's DefaultTypedControllerRateLimiter without its overall 10 qps /
 * 100 burst bucket. A fleet controller retries thousands of keys at once
 * (a broker restart fails them all); one shared bucket would space those
 * retries 100 ms apart and delay the last one by minutes. Combine with a
 * `BucketRateLimiter` through `MaxOfRateLimiter` to get the bucket back.
 */
export function defaultControllerRateLimiter<K = string>(): RateLimiter<K> {
  return new ExponentialBackoffRateLimiter<K>(5, 1_000_000);
}

/** Same as `defaultControllerRateLimiter`. */
export const defaultRateLimiter = defaultControllerRateLimiter;
