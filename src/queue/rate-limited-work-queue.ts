import { defaultControllerRateLimiter } from "./default-rate-limiter.js";
import { DelayScheduler } from "./delay-scheduler.js";
import { DONE_IDLE } from "./handle-queue.js";
import { InvalidArgumentError, describe, pow2AtLeast } from "./errors.js";
import { checkRateLimiter } from "./max-of-rate-limiter.js";
import { type AddOptions, checkPriority, priorityOption } from "./priority.js";
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
 *
 * A delayed key keeps its priority until it fires; when delayed adds of a key
 * coalesce, or a plain add supersedes a delayed one, the higher priority wins.
 */
export class RateLimitedWorkQueue<K = string> extends WorkQueue<K> {
  private readonly rateLimiter: RateLimiter<K>;
  private readonly scheduler: DelayScheduler;
  // Priority per delayed handle (0 = default); allocated on the first delayed
  // add with a priority, so the default path never touches it.
  private delayPrio: Int32Array | undefined = undefined;

  constructor(rateLimiter: RateLimiter<K> = defaultControllerRateLimiter<K>(), options: WorkQueueOptions = {}) {
    super(options);
    checkRateLimiter("RateLimitedWorkQueue.rateLimiter", rateLimiter);
    this.rateLimiter = rateLimiter;
    // A due key joins the queue like a plain add (the entry is already gone).
    this.scheduler = new DelayScheduler((h) => this.queue.add(h, this.takeDelayPriority(h)), { clock: this.clock });
  }

  /**
   * Adds `k` after `ms` milliseconds (now if `ms <= 0`) at `options.priority`.
   * A key waits at most once: a second `addAfter` keeps whichever due time is
   * earlier and whichever priority is higher. Ignored after shut down.
   */
  addAfter(k: K, ms: number, options?: AddOptions): void {
    checkDelay("RateLimitedWorkQueue.addAfter", ms);
    const p = options === undefined ? 0 : priorityOption("RateLimitedWorkQueue.addAfter", options);
    if (this.queue.shuttingDown()) return;
    this.delay(this.interner.intern(k), ms, p);
  }

  /**
   * Adds `k` after the delay the rate limiter gives it (its next retry), at
   * `options.priority`; returns that delay in ms (-1 after shut down).
   */
  addRateLimited(k: K, options?: AddOptions): number {
    const p = options === undefined ? 0 : priorityOption("RateLimitedWorkQueue.addRateLimited", options);
    if (this.queue.shuttingDown()) return -1;
    const ms = this.rateLimiter.when(k);
    checkDelay("RateLimitedWorkQueue.addRateLimited", ms);
    this.delay(this.interner.intern(k), ms, p);
    return ms;
  }

  /** Resets the rate limiter's memory of `k` (call it when `k` succeeded). */
  forget(k: K): void {
    this.rateLimiter.forget(k);
  }

  /** How many rate-limited retries `k` has had since it was last forgotten. */
  numRequeues(k: K): number {
    return this.rateLimiter.numRequeues(k);
  }

  /** Refuses adds, drops delayed keys and stops the timer; see `WorkQueue.shutDown`. */
  override shutDown(): void {
    this.scheduler.close();
    super.shutDown();
  }

  /** Drops delayed keys and stops the timer, then drains; see `WorkQueue.shutDownWithDrain`. */
  override shutDownWithDrain(): Promise<void> {
    this.scheduler.close();
    return super.shutDownWithDrain();
  }

  /** How many keys wait for their delay. */
  delayed(): number {
    return this.scheduler.size;
  }

  // ---- Advanced: handle API for the controller's hot path --------------------

  /** `addAfter` by handle (from `handleOf`) at `priority`; hashes nothing. */
  // The controller's hot path, repeated from WorkQueue on purpose. A WorkQueue
  // method that sees instances of both classes goes polymorphic, and then V8
  // inlines it into the controller's loop only sometimes: the same bench ran at
  // 98M or 170M keys/s from one identical run to the next, by compile timing.
  // These see this class only. Keep them in step with WorkQueue's.
  override addHandle(h: number, priority = 0): void {
    if (priority === 0 && this.plainAdd && this.interner.has(h)) this.queue.add(h);
    else super.addHandle(h, priority);
  }

  override tryGetHandle(): number {
    return this.queue.tryGet();
  }

  override doneHandle(h: number): void {
    if (this.queue.done(h) === DONE_IDLE && !this.retainKeys) this.noteIdle(h);
  }

  addAfterHandle(h: number, ms: number, priority = 0): void {
    checkDelay("RateLimitedWorkQueue.addAfterHandle", ms);
    if (priority !== 0) checkPriority("RateLimitedWorkQueue.addAfterHandle", priority);
    if (this.queue.shuttingDown()) return;
    this.checkLive("RateLimitedWorkQueue.addAfterHandle", h);
    this.delay(h, ms, priority);
  }

  // Sees every add while `plainAdd` is false, i.e. from the first delayed add
  // until an add finds the scheduler empty again.
  protected override enqueue(h: number, priority: number): void {
    // An add now supersedes a pending delayed add (client-go#126027), and
    // inherits its priority if that is higher.
    if (this.scheduler.size !== 0) {
      if (this.scheduler.cancel(h)) {
        const delayed = this.takeDelayPriority(h);
        if (delayed > priority) priority = delayed;
      }
    } else {
      this.plainAdd = true; // nothing waits, so no add has anything to supersede
    }
    this.queue.add(h, priority);
  }

  // A waiting key keeps its handle: the scheduler fires by handle.
  protected override canRelease(h: number): boolean {
    return !this.scheduler.has(h);
  }

  private delay(h: number, ms: number, priority: number): void {
    if (ms <= 0) {
      this.enqueue(h, priority);
      return;
    }
    if (priority !== 0 || this.delayPrio !== undefined) this.noteDelayPriority(h, priority);
    // Invariant: plainAdd is false whenever the scheduler holds a handle (cleared
    // before it can, set again only by an enqueue that finds it empty).
    this.plainAdd = false;
    this.scheduler.schedule(h, this.clock.now() + ms);
  }

  // Before schedule(): a handle already waiting coalesces to the higher priority.
  private noteDelayPriority(h: number, priority: number): void {
    let d = this.delayPrio;
    if (d === undefined || h >= d.length) {
      const next = new Int32Array(pow2AtLeast(h + 1, d === undefined ? 1024 : d.length * 2));
      if (d !== undefined) next.set(d);
      this.delayPrio = d = next;
    }
    d[h] = this.scheduler.has(h) && d[h] > priority ? d[h] : priority;
  }

  /** The priority `h` was delayed with, reset to 0 (it fired or was cancelled). */
  private takeDelayPriority(h: number): number {
    const d = this.delayPrio;
    if (d === undefined || h >= d.length) return 0;
    const p = d[h];
    d[h] = 0;
    return p;
  }
}

function checkDelay(path: string, ms: number): void {
  if (typeof ms !== "number" || Number.isNaN(ms) || ms === Infinity) {
    throw new InvalidArgumentError(path, `delay must be a finite number of ms, got ${describe(ms)}`);
  }
}
