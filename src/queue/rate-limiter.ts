/**
 * Decides how long an item waits before its next retry (client-go's
 * workqueue.TypedRateLimiter).
 */
export interface RateLimiter<K> {
  /** The delay in ms before `item` may be retried; counts the retry. */
  when(item: K): number;
  /** Stops tracking `item` (it succeeded): its next failure starts over. */
  forget(item: K): void;
  /** How many times `item` has been retried since it was last forgotten. */
  numRequeues(item: K): number;
}
