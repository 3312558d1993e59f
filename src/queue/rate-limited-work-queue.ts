import { defaultControllerRateLimiter } from "./default-rate-limiter.js";
import { DelayScheduler } from "./delay-scheduler.js";
import { InvalidArgumentError, describe } from "./errors.js";
import { checkRateLimiter } from "./max-of-rate-limiter.js";
import type { RateLimiter } from "./rate-limiter.js";
import { WorkQueue, type WorkQueueOptions } from "./work-queue.js";

/**
 * A `WorkQueue` whose keys can also be added later (client-go's delaying and
 * rate-limiting queues in one): `addAfter` waits in one shared `DelayScheduler`,
 * `addRateLimited` waits as long as the rate limiter says.
 *
 * Fixed against client-go: a plain `add` of a key that waits in the scheduler
 * makes it ready now and drops the delayed entry (kubernetes/client-go#126027),
 * so it runs once, not again when the old delay expires.
 *
 * `shutDown` also closes the scheduler: keys still waiting for their delay are
 * dropped, not run (nothing new starts after shut down).
 *
 * `whenIdle` and `len` ignore keys still waiting for their delay (a periodic
 * requeue would otherwise keep a controller from ever being idle); `delayed()`
 * counts them.
 */
export class RateLimitedWorkQueue<K = string> extends WorkQueue<K> {
  private readonly rateLimiter: RateLimiter<K>;
  private readonly scheduler: DelayScheduler;

  constructor(rateLimiter: RateLimiter<K> = defaultControllerRateLimiter<K>(), options: WorkQueueOptions = {}) {
    super(options);
    checkRateLimiter("RateLimitedWorkQueue.rateLimiter", rateLimiter);
    this.rateLimiter = rateLimiter;
    // A due key joins the queue like a plain add (the entry is already gone).
    this.scheduler = new DelayScheduler((h) => this.queue.add(h));
  }

  /**
   * Adds `k` after `ms` milliseconds (now if `ms <= 0`). A key waits at most once:
   * a second `addAfter` keeps whichever due time is earlier. Ignored after shut down.
   */
  addAfter(k: K, ms: number): void {
    checkDelay("RateLimitedWorkQueue.addAfter", ms);
    if (this.queue.shuttingDown()) return;
    this.delay(this.interner.intern(k), ms);
  }

  /** Adds `k` after the delay the rate limiter gives it (its next retry). */
  addRateLimited(k: K): void {
    if (this.queue.shuttingDown()) return;
    this.addAfter(k, this.rateLimiter.when(k));
  }

  /** Resets the rate limiter's memory of `k` (call it when `k` succeeded). */
  forget(k: K): void {
    this.rateLimiter.forget(k);
  }

  /** How many rate-limited retries `k` has had since it was last forgotten. */
  numRequeues(k: K): number {
    return this.rateLimiter.numRequeues(k);
  }

  /** Refuses adds, drops delayed keys and stops the timer; consumers drain what is ready. */
  override shutDown(): void {
    this.scheduler.close();
    super.shutDown();
  }

  /** How many keys wait for their delay. */
  delayed(): number {
    return this.scheduler.size;
  }

  // ---- Advanced: handle API for the controller's hot path --------------------

  /** `addAfter` by handle (from `handleOf`); hashes nothing. */
  addAfterHandle(h: number, ms: number): void {
    checkDelay("RateLimitedWorkQueue.addAfterHandle", ms);
    if (this.queue.shuttingDown()) return;
    this.checkLive("RateLimitedWorkQueue.addAfterHandle", h);
    this.delay(h, ms);
  }

  protected override enqueue(h: number): void {
    // An add now supersedes a pending delayed add (client-go#126027).
    if (this.scheduler.size !== 0) this.scheduler.cancel(h);
    this.queue.add(h);
  }

  // A waiting key keeps its handle: the scheduler fires by handle.
  protected override canRelease(h: number): boolean {
    return !this.scheduler.has(h);
  }

  private delay(h: number, ms: number): void {
    if (ms <= 0) this.enqueue(h);
    else this.scheduler.schedule(h, performance.now() + ms);
  }
}

function checkDelay(path: string, ms: number): void {
  if (typeof ms !== "number" || Number.isNaN(ms) || ms === Infinity) {
    throw new InvalidArgumentError(path, `delay must be a finite number of ms, got ${describe(ms)}`);
  }
}
