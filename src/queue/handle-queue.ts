import { type Clock, checkClock, realClock } from "./clock.js";
import { InvalidArgumentError, checkHandle, describe, pow2AtLeast } from "./errors.js";
import { DEFAULT_PRIORITY, checkPriority } from "./priority.js";
import { IntRing, RingBuffer } from "./ring-buffer.js";
import { resized } from "./typed-array.js";

// Per-handle state bits. A handle is QUEUED (ready to hand out) exactly when it
// is DIRTY and not PROCESSING; QUEUED is kept explicitly so that fact is one read.
const DIRTY = 1;
const PROCESSING = 2;
const QUEUED = 4;
// Leveled mode only: the handle moved up since it was queued; the entry it got
// then (its origin) still stands for it in aging, so moving up never makes it wait longer.
const MOVED = 8;

const MIN_FLAGS = 1024;
/** Most priority levels that hold entries at once; see `HandleQueue.add`. */
const MAX_LEVELS = 32;
const DEFAULT_MAX_WAIT_MS = 1000;
const EMPTY_I32 = new Int32Array(0);
const EMPTY_F64 = new Float64Array(0);

type Waiter = (h: number | undefined) => void;

/** What `HandleQueue.done` did. */
export type DoneResult = typeof DONE_IGNORED | typeof DONE_REQUEUED | typeof DONE_IDLE;
export const DONE_IGNORED = 0;
export const DONE_REQUEUED = 1;
export const DONE_IDLE = 2;

export interface HandleQueueOptions {
  /**
   * Aging: a ready handle that has waited longer than this many ms is served
   * before any handle that became ready after it, whatever their priorities.
   * Default 1000; 0 serves strictly by age; `Infinity` turns aging off (strict
   * priority, where a low priority can starve).
   */
  maxWaitMs?: number;
  /**
   * Record every handle's enqueue time from the start (see `enqueuedAt`). Without
   * it times are recorded only once a second priority level exists, so a queue
   * that never sees a priority never reads the clock. Costs a clock read per add.
   */
  trackTimeInQueue?: boolean;
  /** Where enqueue times and aging read the time; default `realClock` (`performance.now()`). */
  clock?: Clock;
}

/** Validates `options` (errors name `where`, e.g. "WorkQueue.options") and fills in defaults. */
export function handleQueueOptions(where: string, options: HandleQueueOptions): Required<HandleQueueOptions> {
  if (options === null || typeof options !== "object") {
    throw new InvalidArgumentError(where, `must be an object, got ${describe(options)}`);
  }
  const { maxWaitMs = DEFAULT_MAX_WAIT_MS, trackTimeInQueue = false, clock = realClock } = options;
  if (typeof maxWaitMs !== "number" || !(maxWaitMs >= 0)) {
    throw new InvalidArgumentError(`${where}.maxWaitMs`, `must be a number of ms >= 0 (or Infinity), got ${describe(maxWaitMs)}`);
  }
  if (typeof trackTimeInQueue !== "boolean") {
    throw new InvalidArgumentError(`${where}.trackTimeInQueue`, `must be a boolean, got ${describe(trackTimeInQueue)}`);
  }
  checkClock(`${where}.clock`, clock);
  return { maxWaitMs, trackTimeInQueue, clock };
}

/** One priority level: a FIFO of handles, some of them stale (see `HandleQueue`). */
class Level {
  readonly priority: number;
  readonly ring: IntRing;
  // Absolute position (int32, wrapping) of the next push; the head's is
  // `pushed - ring.length`. A ring holds at most 2^30 entries, so two entries
  // in it never share a wrapped position.
  pushed = 0;
  // Queued handles counted at this level: what len() adds up. The ring also
  // holds stale entries and the origins of handles that moved up.
  live = 0;

  constructor(priority: number, ring: IntRing) {
    this.priority = priority;
    this.ring = ring;
  }
}

/**
 * client-go's work queue (util/workqueue/queue.go) on small integer handles:
 * a handle is queued at most once however often it is added, is never handed
 * out twice at once, and an add while it is processing re-queues it on `done`.
 *
 * State lives in a `Uint8Array` of flags indexed by handle and an `IntRing` of
 * ready handles, so nothing here hashes. Handles should be dense (the flags
 * array grows to the largest handle seen); `KeyInterner` hands out such handles.
 *
 * Priorities (controller-runtime's priority queue): `add(h, priority)`, higher
 * is more urgent, default 0. Each priority in use is a level with its own ring,
 * served highest first, FIFO within a level. Until a second level exists the
 * queue runs exactly as without priorities (one ring, no clock reads); from the
 * first non-default priority on it is "leveled": per-handle typed arrays record
 * each handle's level, its position in that level's ring and its enqueue time.
 *
 * Aging (no starvation): a handle is overdue once it has been ready longer than
 * `maxWaitMs`. While any handle is overdue, `tryGet` serves the oldest overdue
 * level head instead of the highest level. Guarantee: once a handle is overdue,
 * only handles that became ready no later than it are served before it. So a
 * ready handle is handed out at most about `maxWaitMs` after it became ready,
 * plus the time consumers take to get through the handles that were already
 * overdue ahead of it (none, unless the consumers are behind). "Became ready" is
 * the add that queued it or the `done` that re-queued it; moving up keeps it.
 * Handles queued before the queue turned leveled count as ready at that moment.
 */
export class HandleQueue {
  private flags = new Uint8Array(MIN_FLAGS);
  // The one ring of an unleveled queue; empty for good once leveled, so the
  // unleveled paths need no mode check where they find it empty anyway.
  private readonly ready = new IntRing(1024);
  // Leveled mode only: sorted by priority, highest first; always holds level 0.
  private readonly levels: Level[] = [];
  private leveled = false;
  // `leveled || shutting`: the unleveled add checks one field, not two.
  private slowAdd = false;
  private readonly maxWaitMs: number;
  private readonly clock: Clock;
  // Leveled mode only (empty before): queued handles, and per handle its
  // priority (valid while DIRTY: its level, or the one `done` re-queues it at),
  // its position in that level's ring, the level and position of its origin
  // entry (valid while MOVED), the clock time it became ready and the
  // priority it was last handed out at.
  private count = 0;
  private prio: Int32Array = EMPTY_I32;
  private ticket: Int32Array = EMPTY_I32;
  private originPrio: Int32Array = EMPTY_I32;
  private originTicket: Int32Array = EMPTY_I32;
  private stamp = EMPTY_F64;
  private served: Int32Array = EMPTY_I32;
  private readonly waiters = new RingBuffer<Waiter>();
  private processingCount = 0;
  // Handles that are PROCESSING and DIRTY: `done` will put each back in a ring,
  // so a queue shut down with drain is not drained while any exist.
  private requeuePending = 0;
  private shutting = false;
  // shutDownWithDrain: get waits for processing handles that done will re-queue.
  private drain = false;
  private dispatchScheduled = false;
  private idleWaiters: (() => void)[] = [];
  private drainWaiters: (() => void)[] = [];

  constructor(options: HandleQueueOptions = {}) {
    const { maxWaitMs, trackTimeInQueue, clock } = handleQueueOptions("HandleQueue.options", options);
    this.maxWaitMs = maxWaitMs;
    this.clock = clock;
    if (trackTimeInQueue) this.becomeLeveled();
  }

  /**
   * Marks `h` as needing work at `priority` (an integer in ±1,000,000; higher is
   * served first). Returns true when that changed something: false after
   * `shutDown` and when `h` is already dirty at this priority or a higher one.
   *
   * A queued handle added at a higher priority moves up (it keeps its enqueue
   * time); one added while processing is re-queued by `done` at the highest
   * priority it was added with meanwhile. At most 32 levels hold entries at
   * once: past that a new priority shares the nearest lower level.
   */
  add(h: number, priority = 0): boolean {
    // Hot path, kept small so callers can inline it (TurboFan inlines by
    // bytecode size): an idle handle at the default priority on an unleveled,
    // running queue. `(h | 0) === h` is false for anything but an int32, and
    // bounds are checked before the read (an out-of-bounds read would slow every read).
    if (priority === 0 && !this.slowAdd && (h | 0) === h && h < this.flags.length && this.flags[h] === 0) {
      this.flags[h] = DIRTY | QUEUED;
      this.ready.push(h);
      if (this.waiters.length !== 0) this.scheduleDispatch();
      return true;
    }
    return this.addChecked(h, priority);
  }

  private addChecked(h: number, priority: number): boolean {
    checkHandle("HandleQueue.add", h);
    // Literal 0 (DEFAULT_PRIORITY): the unleveled path below is the common one.
    if (priority !== 0 || this.slowAdd) return this.addSlow(h, priority);
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
    if (h < 0) return this.leveled ? this.tryGetLeveled() : -1;
    this.flags[h] = PROCESSING; // was exactly DIRTY|QUEUED
    this.processingCount++;
    return h;
  }

  /**
   * Waits for a ready handle (waiters are served first come, first served).
   * After `shutDown` it resolves what is ready, then `undefined` at once (as
   * client-go's Get), even while a handle being processed was re-added: a
   * consumer that calls `get` before its own `done` cannot block itself. After
   * `shutDownWithDrain` it also waits for those re-added handles.
   */
  get(): Promise<number | undefined> {
    const h = this.tryGet();
    if (h >= 0) return Promise.resolve(h);
    if (this.shutting && !this.waitsForRequeue()) return Promise.resolve(undefined);
    return new Promise<number | undefined>((resolve) => this.waiters.push(resolve));
  }

  /**
   * Ends processing of `h`. If it was added meanwhile it goes back in the queue,
   * so a change during processing is never lost. A no-op for a handle that is
   * not processing. Returns what became of `h` — `DONE_IGNORED` (was not
   * processing), `DONE_REQUEUED` or `DONE_IDLE` — so callers need no second look.
   */
  done(h: number): DoneResult {
    // Hot path, small enough to inline: processing and not added meanwhile.
    if (this.flags[h] === PROCESSING) {
      this.flags[h] = 0;
      if (--this.processingCount === 0 && this.ready.length === 0 && this.count === 0) this.settleIdle();
      return DONE_IDLE;
    }
    return this.doneOther(h);
  }

  private doneOther(h: number): DoneResult {
    const f = this.flags[h]; // undefined (=> 0 below) for out-of-range or non-integer h
    if ((f & PROCESSING) === 0) return DONE_IGNORED;
    this.processingCount--;
    if ((f & DIRTY) !== 0) {
      this.requeuePending--;
      this.flags[h] = DIRTY | QUEUED;
      if (this.leveled) this.pushReady(h, this.prio[h]);
      else this.ready.push(h);
      if (this.waiters.length !== 0 || this.shutting) this.scheduleDispatch();
      return DONE_REQUEUED;
    }
    this.flags[h] = 0;
    if (this.processingCount === 0 && this.ready.length === 0 && this.count === 0) this.settleIdle();
    return DONE_IDLE;
  }

  /** How many handles are ready (queued, not processing), whatever their priority. */
  len(): number {
    return this.ready.length + this.count; // one of them is 0
  }

  /** Ready handles per priority level in use (for metrics; allocates a Map). */
  lenByPriority(): Map<number, number> {
    const out = new Map<number, number>();
    if (!this.leveled) return out.set(DEFAULT_PRIORITY, this.ready.length);
    for (const lv of this.levels) out.set(lv.priority, lv.live);
    return out;
  }

  /** How many handles are handed out and not yet done. */
  processing(): number {
    return this.processingCount;
  }

  /**
   * The priority `h` is queued at (or that `done` will re-queue it at);
   * `undefined` when it is not dirty.
   */
  priorityOf(h: number): number | undefined {
    if ((this.flags[h] & DIRTY) === 0) return undefined;
    return this.leveled ? this.prio[h] : DEFAULT_PRIORITY;
  }

  /**
   * The priority `h` was handed out at, while it is processing (what a requeue
   * of its result should keep, as controller-runtime's GetWithPriority);
   * `undefined` when it is not processing.
   */
  servedPriority(h: number): number | undefined {
    if ((this.flags[h] & PROCESSING) === 0) return undefined;
    return this.leveled ? this.served[h] : DEFAULT_PRIORITY;
  }

  /**
   * The clock time (`performance.now()` by default) at which `h` last became ready, while it is
   * queued or processing: after `tryGet`, `clock.now() - enqueuedAt(h)`
   * is its time in queue. NaN when not recorded (see `trackTimeInQueue`).
   */
  enqueuedAt(h: number): number {
    return this.leveled && (this.flags[h] & (QUEUED | PROCESSING)) !== 0 ? this.stamp[h] : NaN;
  }

  isDirty(h: number): boolean {
    return (this.flags[h] & DIRTY) !== 0;
  }

  isProcessing(h: number): boolean {
    return (this.flags[h] & PROCESSING) !== 0;
  }

  /** True when `h` waits to be handed out. */
  isQueued(h: number): boolean {
    return (this.flags[h] & QUEUED) !== 0;
  }

  /** True when `h` is neither dirty nor processing (the queue holds nothing about it). */
  isIdle(h: number): boolean {
    return !(this.flags[h] > 0);
  }

  /**
   * Refuses further adds (client-go's ShutDown). `get` hands out what is ready,
   * then `undefined` without waiting for handles still processing; one that was
   * re-added meanwhile is re-queued by its `done` for a later `get`.
   */
  shutDown(): void {
    this.drain = false;
    this.shut();
  }

  /**
   * Refuses further adds and drains (client-go's ShutDownWithDrain): `get` keeps
   * handing out what is ready and waits while a processing handle was re-added
   * (its `done` re-queues it), so every add made before is run. Resolves once
   * nothing is ready or processing. A later `shutDown` stops the waiting.
   */
  shutDownWithDrain(): Promise<void> {
    if (!this.shutting) this.drain = true;
    this.shut();
    return this.drained();
  }

  shuttingDown(): boolean {
    return this.shutting;
  }

  private shut(): void {
    const first = !this.shutting;
    this.shutting = true;
    this.slowAdd = true;
    this.dispatch();
    if (first && this.processingCount === 0 && this.len() === 0) this.settleIdle();
  }

  /** Shut down with drain and some processing handle will come back on `done`. */
  private waitsForRequeue(): boolean {
    return this.drain && this.requeuePending !== 0;
  }

  /** Resolves once shut down with nothing ready and nothing processing. */
  drained(): Promise<void> {
    if (this.shutting && this.processingCount === 0 && this.len() === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.drainWaiters.push(resolve));
  }

  /**
   * Resolves when nothing is ready and nothing is processing (now, or after the
   * `done` that gets there). It does not wait for a later add.
   */
  whenIdle(): Promise<void> {
    if (this.processingCount === 0 && this.len() === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  // ---- Leveled mode ------------------------------------------------------------
  //
  // Moving up is lazy: the handle gets a new entry in the higher ring and its
  // old entry stays where it is. An entry is valid when its handle is QUEUED and
  // either the entry is at the handle's level and position (prio/ticket) or it is
  // the handle's origin (MOVED, originPrio/originTicket). Anything else is stale
  // and is dropped when it reaches the head of its ring; `live` never counts it.
  //
  // Why origins stay valid: entries enter a ring in enqueue-time order except
  // moved-up ones, which keep their older time. Each queued handle has exactly
  // one origin entry and the origins in a ring are in time order, with no entry
  // ahead of them younger than them, so the first valid entry of a ring is never
  // younger than any origin in it: looking at ring heads is enough to find the
  // oldest waiting handle, and moving up never hides a handle from aging.

  private addSlow(h: number, p: number): boolean {
    checkPriority("HandleQueue.add", p);
    if (this.shutting) return false;
    if (!this.leveled) this.becomeLeveled(); // p !== 0 here
    if (h >= this.flags.length) this.growFlags(h);
    const f = this.flags[h];
    if ((f & DIRTY) !== 0) {
      const cur = this.prio[h];
      if (p <= cur) return false;
      if ((f & QUEUED) === 0) {
        this.prio[h] = p; // processing: done() re-queues it at p
        return true;
      }
      const from = this.levelAt(cur);
      const to = this.levelFor(p);
      if (to.priority <= cur) return false; // p shares a level not above cur (MAX_LEVELS)
      from.live--;
      if ((f & MOVED) === 0) {
        this.originPrio[h] = cur;
        this.originTicket[h] = this.ticket[h];
        this.flags[h] = f | MOVED;
      }
      this.pushAt(to, h);
      return true;
    }
    if ((f & PROCESSING) !== 0) {
      this.flags[h] = f | DIRTY;
      this.prio[h] = p;
      this.requeuePending++;
      return true;
    }
    this.flags[h] = DIRTY | QUEUED;
    this.pushReady(h, p);
    if (this.waiters.length !== 0) this.scheduleDispatch();
    return true;
  }

  /** Queues `h` (already flagged DIRTY|QUEUED) at priority `p`, ready as of now. */
  private pushReady(h: number, p: number): void {
    this.stamp[h] = this.clock.now();
    this.pushAt(this.levelFor(p), h);
    this.count++;
  }

  private pushAt(lv: Level, h: number): void {
    this.prio[h] = lv.priority;
    this.ticket[h] = lv.pushed;
    lv.pushed = (lv.pushed + 1) | 0;
    lv.ring.push(h);
    lv.live++;
  }

  private tryGetLeveled(): number {
    if (this.count === 0) return -1;
    const levels = this.levels;
    const stamp = this.stamp;
    let top: Level | undefined;
    let oldest: Level | undefined;
    let oldestAt = Infinity;
    for (let i = 0; i < levels.length; i++) {
      const lv = levels[i];
      const h = this.validHead(lv);
      if (h < 0) continue;
      if (top === undefined && lv.live !== 0) top = lv;
      // Strictly older: on a tie the higher level wins.
      if (stamp[h] < oldestAt) {
        oldestAt = stamp[h];
        oldest = lv;
      }
    }
    // count > 0: some level has a live entry, and live entries are valid.
    let from = top as Level;
    if (oldest !== top && this.maxWaitMs !== Infinity && this.clock.now() - oldestAt > this.maxWaitMs) {
      from = oldest as Level;
    }
    const h = from.ring.shift();
    const p = this.prio[h];
    (p === from.priority ? from : this.levelAt(p)).live--; // an origin is counted at the handle's level
    this.served[h] = p;
    this.count--;
    this.flags[h] = PROCESSING; // clears MOVED: its other entry is stale now
    this.processingCount++;
    return h;
  }

  /** Drops stale entries off the head of `lv`; its first valid handle, or -1. */
  private validHead(lv: Level): number {
    const ring = lv.ring;
    while (ring.length !== 0) {
      const h = ring.peek();
      const f = this.flags[h];
      if ((f & QUEUED) !== 0) {
        const pos = (lv.pushed - ring.length) | 0;
        if (this.prio[h] === lv.priority && this.ticket[h] === pos) return h;
        if ((f & MOVED) !== 0 && this.originPrio[h] === lv.priority && this.originTicket[h] === pos) return h;
      }
      ring.shift();
    }
    return -1;
  }

  /** The level of a priority some queued handle has (so it exists). */
  private levelAt(p: number): Level {
    const levels = this.levels;
    for (let i = 0; i < levels.length; i++) if (levels[i].priority === p) return levels[i];
    throw new Error(`HandleQueue: no level ${p} (invariant broken)`);
  }

  /** The level for priority `p`, created (in order) on first use. */
  private levelFor(p: number): Level {
    const levels = this.levels;
    let i = 0;
    for (; i < levels.length; i++) {
      const q = levels[i].priority;
      if (q === p) return levels[i];
      if (q < p) break;
    }
    if (levels.length >= MAX_LEVELS) {
      // Make room by dropping a level with nothing in its ring; failing that,
      // share the nearest lower level (the lowest, if none is lower).
      const empty = levels.findIndex((lv) => lv.ring.length === 0 && lv.priority !== DEFAULT_PRIORITY);
      if (empty < 0) return levels[Math.min(i, levels.length - 1)];
      levels.splice(empty, 1);
      if (empty < i) i--;
    }
    const lv = new Level(p, new IntRing(64));
    levels.splice(i, 0, lv);
    return lv;
  }

  // From now on every push records its time and position. Handles already
  // queued move to level 0 and count as ready now: their wait so far is
  // unknown, and an early stamp could age them too soon.
  private becomeLeveled(): void {
    const n = this.flags.length;
    this.prio = new Int32Array(n);
    this.ticket = new Int32Array(n);
    this.originPrio = new Int32Array(n);
    this.originTicket = new Int32Array(n);
    this.stamp = new Float64Array(n);
    this.served = new Int32Array(n); // handles processing now were handed out at 0
    const lv0 = new Level(DEFAULT_PRIORITY, new IntRing(Math.max(64, this.ready.length)));
    this.levels.push(lv0);
    const now = this.clock.now();
    for (let h = this.ready.shift(); h >= 0; h = this.ready.shift()) {
      this.stamp[h] = now;
      this.pushAt(lv0, h); // prio 0, as for every dirty handle: every add so far was
      this.count++;
    }
    this.leveled = true;
    this.slowAdd = true;
  }

  // ---- Waiters ----------------------------------------------------------------

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
    if (this.shutting && this.len() === 0 && !this.waitsForRequeue()) {
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
    const size = pow2AtLeast(h + 1, this.flags.length * 2);
    this.flags = resized(this.flags, size);
    if (this.leveled) {
      this.prio = resized(this.prio, size);
      this.ticket = resized(this.ticket, size);
      this.originPrio = resized(this.originPrio, size);
      this.originTicket = resized(this.originTicket, size);
      this.served = resized(this.served, size);
      this.stamp = resized(this.stamp, size);
    }
  }
}
