/**
 * Where lease code reads time. Monotonic milliseconds: expiry is judged from
 * this process's own observations, so wall-clock jumps and skew between
 * machines never shorten or lengthen a lease.
 */
export interface Clock {
  now(): number;
}

export const monotonicClock: Clock = { now: () => performance.now() };
