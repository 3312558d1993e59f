import { StorageClosedError } from "./errors.js";
import { KvUnavailableError } from "./kv-errors.js";
import { isTransient } from "../nats/nats-errors.js";

export interface RetryPolicy {
  /** Tries in all, the first one included; at least 1. */
  readonly attempts: number;
  /** Delay after the first failure; doubles after each further one. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

/**
 * Runs `op` until it succeeds, fails for a non-transient reason, or has failed
 * `policy.attempts` times (then `KvUnavailableError`). `closing` aborts the wait
 * between attempts with `StorageClosedError`. A write retried here must be
 * idempotent: the caller makes it so with a message id the stream deduplicates.
 */
export function withRetries<T>(
  operation: string,
  policy: RetryPolicy,
  closing: AbortSignal,
  op: () => Promise<T>,
): Promise<T> {
  // The first try without an async frame of its own: nearly every call succeeds at once.
  let first: Promise<T>;
  try {
    first = op();
  } catch (error) {
    first = Promise.reject(error);
  }
  return first.catch((error: unknown) => retryAfter(error, operation, policy, closing, op));
}

async function retryAfter<T>(first: unknown, operation: string, policy: RetryPolicy, closing: AbortSignal, op: () => Promise<T>): Promise<T> {
  let error = first;
  for (let attempt = 1; ; attempt++) {
    if (!isTransient(error)) throw error;
    if (attempt >= policy.attempts) throw new KvUnavailableError(operation, attempt, { cause: error });
    const full = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
    // Jitter so many clients cut off together do not come back in lockstep.
    await sleep(full / 2 + (Math.random() * full) / 2, closing);
    try {
      return await op();
    } catch (again) {
      error = again;
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new StorageClosedError());
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new StorageClosedError());
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
