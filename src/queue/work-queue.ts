import type { Clock } from "./clock.js";
import { InvalidArgumentError, describe } from "./errors.js";
import { DONE_IDLE, HandleQueue, handleQueueOptions } from "./handle-queue.js";
import { KeyInterner } from "./key-interner.js";
import { type AddOptions, checkPriority, priorityOption } from "./priority.js";
import { IntRing } from "./ring-buffer.js";

// done(k) looks for k among the last RECENT keys handed out (by identity)
// before it hashes: a consumer usually finishes what it got last.
const RECENT = 8;
// Idle keys are released in bulk once this many (or half the interned keys) wait.
const RELEASE_BATCH = 4096;

export interface WorkQueueOptions {
  /**
   * Keep a key's handle when the key goes idle (done and not re-added).
   * Default false: the handle is released so an unbounded key space does not
   * leak. True makes re-adds cheaper and handles stable (see `handleOf`).
   */
  retainKeys?: boolean;
  /** Aging bound for priorities, default 1000 ms (see `HandleQueue`). */
  maxWaitMs?: number;
  /**
   * Record each key's enqueue time even while no priority is in use, so
   * `enqueuedAtHandle` always answers (one clock read per add).
   */
  trackTimeInQueue?: boolean;
  /** Time and timers (enqueue times, aging, delays); default `realClock`. Tests pass a `FakeClock`. */
  clock?: Clock;
}

/**
 * client-go's work queue with any keys (strings by default): `add` dedups,
 * a key is never handed to two consumers at once, an add while it is
 * processing re-queues it on `done`, `shutDown` refuses adds and lets
 * consumers drain.
 *
 * Keys are interned to integer handles once, at `add`; the queue itself runs
 * on handles (`HandleQueue`). The `*Handle` methods are the controller's hot
 * path and skip the key lookup altogether.
 *
 * Priorities: `add(k, { priority })`, higher first, default 0, FIFO within a
 * priority; a key waiting longer than `maxWaitMs` is served ahead of younger
 * keys of any priority, so a low priority is never starved (see `HandleQueue`).
 */
export class WorkQueue<K = string> {
  // `declare`: no field initialized to undefined first, which measurably slows
  // every later `this.queue` access on the hot path.
  declare protected readonly queue: HandleQueue;
  protected readonly interner: KeyInterner<K> = new KeyInterner<K>();
  protected readonly retainKeys: boolean;
  protected readonly clock: Clock;
  // True while an add needs nothing but `queue.add` (a subclass clears it while
  // it has bookkeeping to do on add, see `enqueue`). The hot paths read this one
  // field instead of making a virtual call: WorkQueue and its subclasses share
  // those call sites, and a call there that goes polymorphic is not inlined.
  protected plainAdd = true;
  private readonly recentKeys: (K | undefined)[] = new Array<K | undefined>(RECENT).fill(undefined);
  private readonly recentHandles = new Int32Array(RECENT);
  private recentNext = 0;
  // Handles that went idle and may be released. Released lazily, in bulk: a
  // key re-added soon after keeps its handle, and the Map delete plus re-insert
  // per cycle (the cost of releasing at once) is mostly saved.
  private readonly idleHandles = new IntRing(64);

  constructor(options: WorkQueueOptions = {}) {
    if (options === null || typeof options !== "object") {
      throw new InvalidArgumentError("WorkQueue.options", `must be an object, got ${describe(options)}`);
    }
    if (options.retainKeys !== undefined && typeof options.retainKeys !== "boolean") {
      throw new InvalidArgumentError("WorkQueue.options.retainKeys", `must be a boolean, got ${describe(options.retainKeys)}`);
    }
    this.retainKeys = options.retainKeys ?? false;
    const queueOptions = handleQueueOptions("WorkQueue.options", { maxWaitMs: options.maxWaitMs, trackTimeInQueue: options.trackTimeInQueue, clock: options.clock });
    this.clock = queueOptions.clock;
    this.queue = new HandleQueue(queueOptions);
  }

  /**
   * Marks `k` as needing work (one map lookup) at `options.priority` (default 0;
   * a queued key added at a higher priority moves up). Ignored after `shutDown`.
   */
  add(k: K, options?: AddOptions): void {
    const p = options === undefined ? 0 : priorityOption("WorkQueue.add", options);
    if (this.queue.shuttingDown()) return; // do not intern keys nobody will get
    const h = this.interner.intern(k);
    if (p === 0 && this.plainAdd) this.queue.add(h);
    else this.enqueue(h, p);
  }

  /** The next key, now processing; `undefined` once shut down with nothing ready (see `shutDown`). */
  get(): Promise<K | undefined> {
    // Fast path without an async frame: a ready key resolves in one promise.
    const h = this.queue.tryGet();
    if (h >= 0) return Promise.resolve(this.handOut(h));
    return this.queue.get().then(this.keyOrUndefined);
  }

  /** Ends processing of `k`; re-queues it if it was added meanwhile. */
  done(k: K): void {
    // Newest first; a hit must still be k's handle (it may have been released and reused).
    for (let n = 0, i = this.recentNext; n < RECENT; n++) {
      i = (i - 1) & (RECENT - 1);
      if (this.recentKeys[i] === k) {
        const h = this.recentHandles[i];
        if (this.interner.keyAt(h) === k) return this.doneHandle(h);
        break;
      }
    }
    const h = this.interner.handleOf(k);
    if (h >= 0) this.doneHandle(h);
  }

  /** How many keys are ready, whatever their priority. */
  len(): number {
    return this.queue.len();
  }

  /** Ready keys per priority in use (for metrics; allocates a Map). */
  lenByPriority(): Map<number, number> {
    return this.queue.lenByPriority();
  }

  /** How many keys hold a handle: queued, processing, delayed, or idle and not yet released. */
  keyCount(): number {
    return this.interner.size;
  }

  /** How many keys are handed out and not yet done. */
  processing(): number {
    return this.queue.processing();
  }

  /**
   * Refuses new adds (client-go's ShutDown): `get` returns what is ready, then
   * `undefined` at once, without waiting for keys still processing. A key
   * re-added while processing is re-queued by its `done` for a later `get`.
   */
  shutDown(): void {
    this.queue.shutDown();
  }

  /**
   * Refuses new adds and drains (client-go's ShutDownWithDrain): `get` also
   * waits for keys re-added while processing, so every add made before runs.
   * Resolves once nothing is ready or processing.
   */
  shutDownWithDrain(): Promise<void> {
    return this.queue.shutDownWithDrain();
  }

  shuttingDown(): boolean {
    return this.queue.shuttingDown();
  }

  /** Resolves once shut down with nothing ready and nothing processing. */
  drained(): Promise<void> {
    return this.queue.drained();
  }

  /** Resolves when nothing is ready and nothing is processing. */
  whenIdle(): Promise<void> {
    return this.queue.whenIdle();
  }

  /**
   * Frees the handle of an idle key early; false if `k` is unknown or still
   * queued, processing or otherwise in use.
   */
  release(k: K): boolean {
    const h = this.interner.handleOf(k);
    if (!(h >= 0 && this.queue.isIdle(h) && this.canRelease(h) && this.interner.release(h))) return false;
    this.forgetRecent(h);
    return true;
  }

  // ---- Advanced: handle API for the controller's hot path --------------------

  /**
   * The handle of `k`, interned on first sight. Without `retainKeys` a handle is
   * released (and may be reused for another key) when its key goes idle: keep
   * handles across a `done` only with `retainKeys: true`.
   */
  handleOf(k: K): number {
    return this.interner.intern(k);
  }

  /** The key of handle `h` (throws for a handle no key holds). */
  keyOf(h: number): K {
    return this.interner.keyOf(h);
  }

  /** `add` by handle (from `handleOf`) at `priority`; hashes nothing. */
  addHandle(h: number, priority = 0): void {
    // The controller's hot path, kept small enough to inline: a live handle at
    // the default priority goes straight to the HandleQueue (which ignores it
    // after shutDown); everything else takes the checked path.
    if (priority === 0 && this.plainAdd && this.interner.has(h)) this.queue.add(h);
    else this.addHandleSlow(h, priority);
  }

  private addHandleSlow(h: number, priority: number): void {
    if (priority !== 0) checkPriority("WorkQueue.addHandle", priority);
    if (this.queue.shuttingDown()) return;
    this.checkLive("WorkQueue.addHandle", h);
    this.enqueue(h, priority);
  }

  /** The next ready handle, now processing; -1 when none is ready. */
  tryGetHandle(): number {
    return this.queue.tryGet();
  }

  /** Like `get`, by handle. */
  getHandle(): Promise<number | undefined> {
    return this.queue.get();
  }

  /**
   * When handle `h` (queued or processing) last became ready, in the clock's
   * ms (`performance.now()` by default): right after `tryGetHandle`/`getHandle`,
   * `clock.now() - enqueuedAtHandle(h)` is its time in queue. NaN until
   * the queue records times: from its first non-default priority, or from the
   * start with `trackTimeInQueue`.
   */
  enqueuedAtHandle(h: number): number {
    return this.queue.enqueuedAt(h);
  }

  /**
   * The priority handle `h` was handed out at, while it is processing: requeue
   * its result (`addAfterHandle`, `addRateLimited`) at it to keep it.
   */
  servedPriorityOfHandle(h: number): number | undefined {
    return this.queue.servedPriority(h);
  }

  /** `done` by handle; hashes nothing (idle keys are released later, in bulk). */
  doneHandle(h: number): void {
    if (this.queue.done(h) === DONE_IDLE && !this.retainKeys) this.noteIdle(h);
  }

  protected noteIdle(h: number): void {
    this.idleHandles.push(h);
    if (this.idleHandles.length >= RELEASE_BATCH && this.idleHandles.length >= this.interner.size >> 1) this.releaseIdle();
  }

  /** Releases every key noted idle that still is: bounds the interned set to about twice the live one. */
  private releaseIdle(): void {
    for (let h = this.idleHandles.shift(); h >= 0; h = this.idleHandles.shift()) {
      if (this.interner.has(h) && this.queue.isIdle(h) && this.canRelease(h) && this.interner.release(h)) this.forgetRecent(h);
    }
  }

  // A released key must not stay referenced here: an object key is then
  // collectable at once (client-go's TestGarbageCollection).
  private forgetRecent(h: number): void {
    for (let i = 0; i < RECENT; i++) {
      if (this.recentHandles[i] === h && this.recentKeys[i] !== undefined) this.recentKeys[i] = undefined;
    }
  }

  private handOut(h: number): K {
    const k = this.interner.keyOf(h);
    const i = this.recentNext;
    this.recentKeys[i] = k;
    this.recentHandles[i] = h;
    this.recentNext = (i + 1) & (RECENT - 1);
    return k;
  }

  private readonly keyOrUndefined = (h: number | undefined): K | undefined => (h === undefined ? undefined : this.handOut(h));

  // ---- For subclasses --------------------------------------------------------

  /**
   * Puts interned handle `h` in the queue at (validated) `priority`. Called
   * only for a non-default priority or while `plainAdd` is false: an override
   * must clear `plainAdd` for as long as it needs to see every add.
   */
  protected enqueue(h: number, priority: number): void {
    this.queue.add(h, priority);
  }

  /** Whether an idle handle may be released (a subclass may still hold it). */
  protected canRelease(_h: number): boolean {
    return true;
  }

  // A byte read (the interner's live table), not the keys table.
  protected checkLive(where: string, h: number): void {
    if (!this.interner.has(h)) {
      throw new InvalidArgumentError(where, `handle ${describe(h)} holds no key (use handleOf to get one)`);
    }
  }
}
