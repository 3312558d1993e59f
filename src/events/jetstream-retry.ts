import { isTransient } from "../nats/nats-errors.js";

export interface RetryOptions {
  /** Attempts in all, at least 1. */
  readonly attempts: number;
  /** Wait after the first failure; doubles each time up to `maxMs`. */
  readonly baseMs: number;
  readonly maxMs: number;
  readonly signal?: AbortSignal;
  /** Told about each failure that will be retried. */
  onRetry?(error: unknown, attempt: number, delayMs: number): void;
}

/**
 * Runs `op` until it succeeds, a non-transient error is thrown, the attempts
 * run out (the last error is thrown) or `signal` aborts (its reason is thrown).
 */
export async function retrying<T>(op: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const { attempts, baseMs, maxMs, signal } = options;
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    try {
      return await raceSignal(op(attempt), signal);
    } catch (error) {
      if (signal?.aborted || attempt >= attempts || !isTransient(error)) throw error;
      const delayMs = backoffDelay(baseMs, maxMs, attempt);
      options.onRetry?.(error, attempt, delayMs);
      await sleep(delayMs, signal);
    }
  }
}

/** `base * 2^(n-1)`, capped at `max`; n counts from 1. */
export function backoffDelay(baseMs: number, maxMs: number, n: number): number {
  // 2^n overflows to Infinity long after the cap applies; min() handles it.
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, n - 1));
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * `promise`, or a rejection with the signal's reason if it aborts first. The
 * underlying operation is not cancelled (a NATS request cannot be recalled).
 */
export function raceSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
