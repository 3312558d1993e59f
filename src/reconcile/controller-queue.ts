import type { ControllerMetrics } from "../metrics/metrics.js";
import { DEFAULT_PRIORITY } from "../queue/priority.js";
import type { RateLimitedWorkQueue } from "../queue/rate-limited-work-queue.js";
import { resized } from "../queue/typed-array.js";
import { HandleState } from "./handle-state.js";

/**
 * The work queue as the controller uses it: by handle, with each key's
 * per-handle state (failures, priority, reason), metrics on every add and
 * done, and the count of keys waiting out a backoff (for
 * `idle({ includeDelayed: true })`). Every queue operation of the controller
 * goes through here, so metrics and state never miss one.
 */
export class ControllerQueue {
  readonly state = new HandleState();
  readonly #queue: RateLimitedWorkQueue<string>;
  readonly #metrics: ControllerMetrics | undefined;
  /** 1 while the key waits out a backoff (a retry's delay), until it is dispatched again. */
  #inBackoff = new Uint8Array(1024);
  #backoffCount = 0;
  #backoffWaiters: (() => void)[] = [];

  constructor(queue: RateLimitedWorkQueue<string>, metrics: ControllerMetrics | undefined) {
    this.#queue = queue;
    this.#metrics = metrics;
  }

  get raw(): RateLimitedWorkQueue<string> {
    return this.#queue;
  }

  /** The key string of a handle, as the queue interned it (never rebuilt). */
  keyOf(h: number): string {
    return this.#queue.keyOf(h);
  }

  ensure(h: number): void {
    this.state.ensure(h);
    if (h >= this.#inBackoff.length) this.#inBackoff = resized(this.#inBackoff, Math.max(h + 1, this.#inBackoff.length * 2));
  }

  add(h: number, reason: string | undefined, delayMs = 0, priority = DEFAULT_PRIORITY): void {
    this.state.reason[h] = reason;
    this.#enqueue(h, delayMs, priority);
  }

  /** A requeue keeps the priority the key was served at (controller-runtime's rule). */
  requeue(h: number, delayMs = 0): void {
    this.#enqueue(h, delayMs, this.state.priority[h]);
  }

  /** Rate-limited requeue: the key's failures count up and it waits out its backoff. */
  retry(h: number): void {
    this.state.failed[h] = 1;
    const delayMs = this.#queue.addRateLimited(this.keyOf(h), { priority: this.state.priority[h] });
    if (delayMs > 0 && this.#inBackoff[h] === 0) {
      this.#inBackoff[h] = 1;
      this.#backoffCount++;
    }
    if (delayMs >= 0) this.#metrics?.retried(h, delayMs);
  }

  forget(h: number): void {
    if (this.state.failed[h] === 0) return;
    this.state.failed[h] = 0;
    this.#queue.forget(this.keyOf(h));
  }

  /** 1 on a first try, then the retries since the last success. */
  attempt(h: number): number {
    return this.state.failed[h] === 1 ? this.#queue.numRequeues(this.keyOf(h)) + 1 : 1;
  }

  /** Called as a key is taken off the queue: it is out of backoff, and its served priority sticks. */
  dispatched(h: number, now: number | undefined): void {
    this.#metrics?.dequeued(h, now);
    this.state.priority[h] = this.#queue.servedPriorityOfHandle(h) ?? DEFAULT_PRIORITY;
    this.#leaveBackoff(h);
  }

  done(h: number): void {
    this.#metrics?.done(h);
    this.#queue.doneHandle(h);
  }

  /** Keys waiting out a backoff. */
  inBackoff(): number {
    return this.#backoffCount;
  }

  /** Resolves when a key leaves backoff (dispatched or released). */
  backoffChanged(): Promise<void> {
    return new Promise((resolve) => this.#backoffWaiters.push(resolve));
  }

  /** The handle is given back: its state is cleared for reuse. */
  reset(h: number): void {
    this.state.reset(h);
    this.#leaveBackoff(h);
  }

  #leaveBackoff(h: number): void {
    if (this.#inBackoff[h] === 0) return;
    this.#inBackoff[h] = 0;
    this.#backoffCount--;
    for (const wake of this.#backoffWaiters.splice(0)) wake();
  }

  #enqueue(h: number, delayMs: number, priority: number): void {
    if (delayMs > 0) {
      this.#metrics?.addedAfter(h, delayMs);
      this.#queue.addAfterHandle(h, delayMs, priority);
    } else {
      this.#metrics?.added(h);
      this.#queue.addHandle(h, priority);
    }
  }
}
