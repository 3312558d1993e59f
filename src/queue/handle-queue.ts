import { checkHandle, pow2AtLeast } from "./errors.js";
import { IntRing, RingBuffer } from "./ring-buffer.js";

// Per-handle state bits. A handle is QUEUED (in the ready ring) exactly when it
// is DIRTY and not PROCESSING; QUEUED is kept explicitly so that fact is one read.
const DIRTY = 1;
const PROCESSING = 2;
const QUEUED = 4;

const MIN_FLAGS = 1024;

type Waiter = (h: number | undefined) => void;

/**
 * client-go's work queue (util/workqueue/queue.go) on small integer handles:
 * a handle is queued at most once however often it is added, is never handed
 * out twice at once, and an add while it is processing re-queues it on `done`.
 *
 * State lives in a `Uint8Array` of flags indexed by handle and an `IntRing` of
 * ready handles, so nothing here hashes. Handles should be dense (the flags
 * array grows to the largest handle seen); `KeyInterner` hands out such handles.
 */
export class HandleQueue {
  private flags = new Uint8Array(MIN_FLAGS);
  private readonly ready = new IntRing(1024);
  private readonly waiters = new RingBuffer<Waiter>();
  private processingCount = 0;
  // Handles that are PROCESSING and DIRTY: `done` will put each back in the ring,
  // so a shut-down queue is not drained while any exist.
  private requeuePending = 0;
  private shutting = false;
  private dispatchScheduled = false;
  private idleWaiters: (() => void)[] = [];
  private drainWaiters: (() => void)[] = [];

  /**
   * Marks `h` as needing work. Returns true when that changed something: false
   * after `shutDown` and when `h` is already dirty (waiting or re-queued).
   */
  add(h: number): boolean {
    checkHandle("HandleQueue.add", h);
    if (this.shutting) return false;
    if (h >= this.flags.length) this.growFlags(h);
    const f = this.flags[h];
    if ((f & DIRTY) !== 0) return false;
    if ((f & PROCESSING) !== 0) {
      // Stays out of the ring: a second worker must not get it; done() re-queues it.
      this.flags[h] = f | DIRTY;
      this.requeuePending++;
      return true;
    }
    this.flags[h] = DIRTY | QUEUED;
    this.ready.push(h);
    if (this.waiters.length !== 0) this.scheduleDispatch();
    return true;
  }

  /** The next ready handle, now processing; -1 when none is ready. */
  tryGet(): number {
    const h = this.ready.shift();
    if (h < 0) return -1;
    this.flags[h] = PROCESSING; // was exactly DIRTY|QUEUED
    this.processingCount++;
    return h;
  }

  /**
   * Waits for a ready handle (waiters are served first come, first served).
   * Resolves `undefined` once the queue is shut down and drained of ready handles.
   */
  get(): Promise<number | undefined> {
    const h = this.tryGet();
    if (h >= 0) return Promise.resolve(h);
    if (this.shutting && this.requeuePending === 0) return Promise.resolve(undefined);
    return new Promise<number | undefined>((resolve) => this.waiters.push(resolve));
  }

  /**
   * Ends processing of `h`. If it was added meanwhile it goes back in the ring,
   * so a change during processing is never lost. A no-op for a handle that is
   * not processing.
   */
  done(h: number): void {
    const f = this.flags[h]; // undefined (=> 0 below) for out-of-range or non-integer h
    if ((f & PROCESSING) === 0) return;
    this.processingCount--;
    if ((f & DIRTY) !== 0) {
      this.requeuePending--;
      this.flags[h] = DIRTY | QUEUED;
      this.ready.push(h);
      if (this.waiters.length !== 0 || this.shutting) this.scheduleDispatch();
      return;
    }
    this.flags[h] = 0;
    if (this.processingCount === 0 && this.ready.length === 0) this.settleIdle();
  }

  /** How many handles are ready (queued, not processing). */
  len(): number {
    return this.ready.length;
  }

  /** How many handles are handed out and not yet done. */
  processing(): number {
    return this.processingCount;
  }

  isDirty(h: number): boolean {
    return (this.flags[h] & DIRTY) !== 0;
  }

  isProcessing(h: number): boolean {
    return (this.flags[h] & PROCESSING) !== 0;
  }

  /** True when `h` waits in the ready ring. */
  isQueued(h: number): boolean {
    return (this.flags[h] & QUEUED) !== 0;
  }

  /** True when `h` is neither dirty nor processing (the queue holds nothing about it). */
  isIdle(h: number): boolean {
    return !(this.flags[h] > 0);
  }

  /**
   * Refuses further adds. Waiting and later `get` calls still receive what is
   * ready (and what `done` re-queues), then `undefined`.
   */
  shutDown(): void {
    if (this.shutting) return;
    this.shutting = true;
    this.dispatch();
    if (this.processingCount === 0 && this.ready.length === 0) this.settleIdle();
  }

  shuttingDown(): boolean {
    return this.shutting;
  }

  /** Resolves once shut down with nothing ready and nothing processing. */
  drained(): Promise<void> {
    if (this.shutting && this.processingCount === 0 && this.ready.length === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.drainWaiters.push(resolve));
  }

  /**
   * Resolves when nothing is ready and nothing is processing (now, or after the
   * `done` that gets there). It does not wait for a later add.
   */
  whenIdle(): Promise<void> {
    if (this.processingCount === 0 && this.ready.length === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  // A waiter takes its handle one microtask after the add, not inside it: a
  // synchronous burst of adds of one key then coalesces into one handout instead
  // of a handout plus a dirty re-run, and the taker finds a fuller ring to batch.
  private scheduleDispatch(): void {
    if (this.dispatchScheduled) return;
    this.dispatchScheduled = true;
    queueMicrotask(() => {
      this.dispatchScheduled = false;
      this.dispatch();
    });
  }

  // Hands ready handles straight to waiters (each marked processing before its
  // promise resolves, so nobody else can take it), then releases the rest with
  // `undefined` if the queue is shut down and nothing more can become ready.
  private dispatch(): void {
    while (this.waiters.length !== 0) {
      const h = this.tryGet();
      if (h < 0) break;
      (this.waiters.shift() as Waiter)(h);
    }
    if (this.shutting && this.ready.length === 0 && this.requeuePending === 0) {
      while (this.waiters.length !== 0) (this.waiters.shift() as Waiter)(undefined);
    }
  }

  private settleIdle(): void {
    if (this.idleWaiters.length !== 0) {
      const ws = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of ws) w();
    }
    if (this.shutting && this.drainWaiters.length !== 0) {
      const ws = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of ws) w();
    }
  }

  private growFlags(h: number): void {
    const next = new Uint8Array(pow2AtLeast(h + 1, this.flags.length * 2));
    next.set(this.flags);
    this.flags = next;
  }
}
