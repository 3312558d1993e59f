import { InvalidArgumentError, checkHandle, describe, pow2AtLeast } from "./errors.js";
import { type Clock, type ClockTimer, MAX_TIMER_MS, checkClock, realClock } from "./clock.js";
import { resized } from "./typed-array.js";

const MIN_SLOTS = 1024;

// Timer slack (as Linux's timer slack or Windows' tolerable delay): a key
// scheduled at least SLACK_MIN_DELAY_MS ahead may fire SLACK_FRACTION of its
// delay late (at least 1 ms, at most MAX_SLACK_MS), so keys falling due close
// together share one wake-up and reach their consumer as one batch. A wake-up,
// and a worker round trip per key behind it, cost far more than a key (a
// periodic schedule's CPU is mostly wake-ups: bench/backoff.ts, bench/steady.ts);
// 0.1% on a check seconds or minutes away is nothing. Shorter delays (backoff
// retries) get no slack, so they keep millisecond precision.
const SLACK_FRACTION = 0.001;
const MIN_SLACK_MS = 1;
const MAX_SLACK_MS = 100;
const SLACK_MIN_DELAY_MS = 2000;

export interface DelaySchedulerOptions {
  /**
   * Called when `onFire` throws; the scheduler carries on with the next entry.
   * Without it the error is rethrown from a microtask (an uncaught exception).
   */
  onError?: (error: unknown, handle: number) => void;
  /** Time and timers; default `realClock` (`performance.now()`, `setTimeout`). */
  clock?: Clock;
}

/**
 * Fires `onFire(handle)` at each handle's due time, with ONE timer for all of
 * them: a binary min-heap over typed arrays (due times in a `Float64Array`
 * indexed by handle, heap positions in an `Int32Array` for O(log n) moves and
 * removals). Times are the clock's milliseconds (`performance.now()` by default).
 *
 * It sleeps between due times: one timer, armed for the earliest due time
 * rounded up to a whole millisecond (the runtime's loop clock has whole
 * milliseconds, so keys due within the same millisecond share one wake-up),
 * plus slack for a key scheduled 2 s or more ahead: 0.1% of its delay (1 to
 * 100 ms), so it shares its wake-up with the keys falling due just after it.
 * So on an idle loop a key fires at most about 1 ms after its due time, plus
 * its slack if it has one.
 * A handle never fires before its due time: the timer may run early (the loop
 * clock lags), so every wake-up re-reads the clock, fires what is due
 * (earliest first) and re-arms for the rest; an early wake-up only re-arms.
 * Nothing polls. A due time further away than a timer can wait (2^31-1 ms,
 * about 24.8 days) is reached by re-arming at most that long each time.
 *
 * While entries exist the timer keeps the process alive (a controller waiting
 * on a requeue must not exit); `unref()` opts out.
 */
export class DelayScheduler {
  private readonly onFire: (h: number) => void;
  private readonly onError: ((error: unknown, handle: number) => void) | undefined;
  private due = new Float64Array(MIN_SLOTS);
  // Due time plus slack per handle: the timer aims at the least of these.
  private latest = new Float64Array(MIN_SLOTS);
  // Heap index + 1 per handle; 0 = not scheduled (so a fresh array means empty).
  private pos = new Int32Array(MIN_SLOTS);
  private heap = new Int32Array(MIN_SLOTS);
  private count = 0;
  private readonly clock: Clock;
  private timer: ClockTimer | undefined = undefined;
  // The `latest` the pending timer was armed for: a key whose `latest` is
  // earlier needs a re-arm, a later one does not. Infinity when no timer is armed.
  private armedFor = Infinity;
  /**
   * A clock reading no later than now (taken at construction, each wake-up and
   * each arming). `dueAt - readAt` bounds a new key's delay from above, so a key
   * due within SLACK_MIN_DELAY_MS of it needs no clock read to know it gets no
   * slack: scheduling 100k short delays in one loop reads the clock 0 times, not
   * 100k (the loop's length is how late its earliest keys fire).
   */
  private readAt: number;
  private firing = false;
  // Scratch for arm()'s walk of the heap.
  private readonly stack: number[] = [];
  private closed = false;
  private refed = true;

  constructor(onFire: (h: number) => void, options: DelaySchedulerOptions = {}) {
    if (typeof onFire !== "function") {
      throw new InvalidArgumentError("DelayScheduler.onFire", `must be a function, got ${describe(onFire)}`);
    }
    if (options === null || typeof options !== "object") {
      throw new InvalidArgumentError("DelayScheduler.options", `must be an object, got ${describe(options)}`);
    }
    if (options.onError !== undefined && typeof options.onError !== "function") {
      throw new InvalidArgumentError("DelayScheduler.options.onError", `must be a function, got ${describe(options.onError)}`);
    }
    if (options.clock !== undefined) checkClock("DelayScheduler.options.clock", options.clock);
    this.onFire = onFire;
    this.onError = options.onError;
    this.clock = options.clock ?? realClock;
    this.readAt = this.clock.now();
  }

  /** How many handles wait. */
  get size(): number {
    return this.count;
  }

  /**
   * Fires `h` at `dueAt` (a `clock.now()` time), never before; a `dueAt` 2 s
   * or more ahead may fire up to 0.1% of the delay (1..100 ms) later. Past
   * times fire on the next turn of the event loop, never synchronously. Keeps
   * only the earliest due time per handle: a later one is ignored. Ignored
   * after `close()`.
   */
  schedule(h: number, dueAt: number): void {
    checkHandle("DelayScheduler.schedule", h);
    if (typeof dueAt !== "number" || !Number.isFinite(dueAt)) {
      throw new InvalidArgumentError("DelayScheduler.schedule", `dueAt must be a finite number of ms, got ${describe(dueAt)}`);
    }
    if (this.closed) return;
    if (h >= this.pos.length) this.growSlots(h);
    const p = this.pos[h];
    if (p !== 0 && dueAt >= this.due[h]) return;
    const latest = (this.latest[h] = dueAt - this.readAt < SLACK_MIN_DELAY_MS ? dueAt : dueAt + slackFor(dueAt - (this.readAt = this.clock.now())));
    if (p !== 0) {
      this.due[h] = dueAt;
      this.siftUp(p - 1);
    } else {
      if (this.count === this.heap.length) this.growHeap();
      this.due[h] = dueAt;
      this.heap[this.count] = h;
      this.pos[h] = this.count + 1;
      this.count++;
      this.siftUp(this.count - 1);
    }
    // Re-arm only for a key that must fire before the timer would (it may have
    // less slack than the head). The timer's target stays the least `latest`.
    if (!this.firing && latest < this.armedFor) this.armAt(latest);
  }

  /** Removes `h`; true if it was waiting. */
  cancel(h: number): boolean {
    const p = this.pos[h];
    if (!(p > 0)) return false; // also rejects out-of-range and non-integer h
    this.removeAt(p - 1);
    // A timer armed for a removed head just wakes early and re-arms; only an
    // empty heap must disarm, so an idle process can exit.
    if (this.count === 0) this.disarm();
    return true;
  }

  has(h: number): boolean {
    return this.pos[h] > 0;
  }

  /** The due time of `h`, or NaN when it is not waiting. */
  dueAt(h: number): number {
    return this.pos[h] > 0 ? this.due[h] : NaN;
  }

  /** The earliest due time, or NaN when nothing waits. */
  nextDueAt(): number {
    return this.count === 0 ? NaN : this.due[this.heap[0]];
  }

  /** Drops every entry and the timer; later `schedule` calls are ignored. */
  close(): void {
    this.closed = true;
    this.disarm();
    for (let i = 0; i < this.count; i++) this.pos[this.heap[i]] = 0;
    this.count = 0;
  }

  /** Lets the process exit while entries wait. */
  unref(): void {
    this.refed = false;
    this.setRef(false);
  }

  /** Undoes `unref()`: waiting entries keep the process alive again. */
  ref(): void {
    this.refed = true;
    this.setRef(true);
  }

  private readonly wake = (): void => {
    this.timer = undefined;
    this.armedFor = Infinity;
    const now = (this.readAt = this.clock.now());
    // At most the entries present now: one that onFire schedules in the past
    // waits for the next wake-up instead of looping here forever.
    let budget = this.count;
    this.firing = true;
    try {
      while (this.count !== 0 && budget-- > 0) {
        const h = this.heap[0];
        if (this.due[h] > now) break; // the never-early check
        this.removeAt(0);
        try {
          this.onFire(h);
        } catch (error) {
          this.report(error, h);
        }
      }
    } finally {
      this.firing = false;
    }
    if (!this.closed) this.arm();
  };

  /** Arms for the least `latest` of any key: the head's, or that of a key due before it with less slack. */
  private arm(): void {
    if (this.count === 0) {
      this.disarm();
      return;
    }
    const heap = this.heap;
    const due = this.due;
    const latest = this.latest;
    const n = this.count;
    let target = latest[heap[0]];
    // Only keys due before the target can lower it, and a heap's children are
    // due no earlier than their parent: visiting just those costs what this
    // wake-up fires anyway.
    const stack = this.stack;
    stack.length = 0;
    stack.push(0);
    while (stack.length !== 0) {
      const i = stack.pop() as number;
      for (let c = 2 * i + 1; c <= 2 * i + 2 && c < n; c++) {
        const h = heap[c];
        if (due[h] >= target) continue;
        if (latest[h] < target) target = latest[h];
        stack.push(c);
      }
    }
    this.armAt(target);
  }

  private armAt(target: number): void {
    this.disarm();
    // Whole ms, rounded up: the timer can only run on a loop-clock tick, and
    // the first tick at or after due time plus slack is the one to aim for.
    // Past times get 0 (the next turn). Capped at what a timer can wait.
    const wait = Math.min(MAX_TIMER_MS, Math.ceil(target - (this.readAt = this.clock.now())));
    this.timer = this.clock.afterFunc(wait > 0 ? wait : 0, this.wake);
    this.armedFor = target;
    if (!this.refed) this.timer.unref();
  }

  private disarm(): void {
    if (this.timer !== undefined) {
      this.timer.stop();
      this.timer = undefined;
    }
    this.armedFor = Infinity;
  }

  private setRef(on: boolean): void {
    if (on) this.timer?.ref();
    else this.timer?.unref();
  }

  private report(error: unknown, h: number): void {
    if (this.onError !== undefined) {
      try {
        this.onError(error, h);
        return;
      } catch (again) {
        error = again;
      }
    }
    queueMicrotask(() => {
      throw error;
    });
  }

  private removeAt(i: number): void {
    const heap = this.heap;
    const removed = heap[i];
    this.pos[removed] = 0;
    const last = heap[--this.count];
    if (i === this.count) return;
    heap[i] = last;
    this.pos[last] = i + 1;
    if (i > 0 && this.due[last] < this.due[heap[(i - 1) >> 1]]) this.siftUp(i);
    else this.siftDown(i);
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    const due = this.due;
    const h = heap[i];
    const d = due[h];
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const ph = heap[parent];
      if (due[ph] <= d) break;
      heap[i] = ph;
      this.pos[ph] = i + 1;
      i = parent;
    }
    heap[i] = h;
    this.pos[h] = i + 1;
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const due = this.due;
    const n = this.count;
    const h = heap[i];
    const d = due[h];
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && due[heap[child + 1]] < due[heap[child]]) child++;
      const ch = heap[child];
      if (due[ch] >= d) break;
      heap[i] = ch;
      this.pos[ch] = i + 1;
      i = child;
    }
    heap[i] = h;
    this.pos[h] = i + 1;
  }

  private growSlots(h: number): void {
    const size = pow2AtLeast(h + 1, this.pos.length * 2);
    this.due = resized(this.due, size);
    this.latest = resized(this.latest, size);
    this.pos = resized(this.pos, size);
  }

  private growHeap(): void {
    this.heap = resized(this.heap, this.heap.length * 2);
  }
}

/** How late a key scheduled `delay` ms ahead may fire (see SLACK_FRACTION). */
function slackFor(delay: number): number {
  if (!(delay >= SLACK_MIN_DELAY_MS)) return 0;
  const slack = delay * SLACK_FRACTION;
  return slack < MIN_SLACK_MS ? MIN_SLACK_MS : slack > MAX_SLACK_MS ? MAX_SLACK_MS : slack;
}
