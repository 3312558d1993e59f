import { InvalidArgumentError, checkHandle, describe, pow2AtLeast } from "./errors.js";
import { type Clock, type ClockTimer, MAX_TIMER_MS, checkClock, realClock } from "./clock.js";
import { resized } from "./typed-array.js";

const MIN_SLOTS = 1024;

// Timer slack: a key scheduled at least SLACK_MIN_DELAY_MS ahead may fire one
// tick (SLACK_MS) later than the first tick after its due time, so that the
// keys due in the next millisecond share its wake-up (at most 0.05% of its
// delay). A wake-up costs far more than firing a key (a periodic schedule's
// process CPU is mostly wake-ups: bench/backoff.ts), and 1 ms on a check
// seconds away is nothing. Shorter delays (backoff retries) get no slack.
const SLACK_MS = 1;
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
 * plus 1 ms of slack for a key scheduled 2 s or more ahead (it shares its
 * wake-up with the keys due a millisecond later). So a key fires about 1 ms
 * (2 ms with slack) after its due time at most, on an idle loop.
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
  // Due time plus slack per handle: what the timer aims at when it heads the heap.
  private latest = new Float64Array(MIN_SLOTS);
  // Heap index + 1 per handle; 0 = not scheduled (so a fresh array means empty).
  private pos = new Int32Array(MIN_SLOTS);
  private heap = new Int32Array(MIN_SLOTS);
  private count = 0;
  private readonly clock: Clock;
  private timer: ClockTimer | undefined = undefined;
  // The `latest` the pending timer was armed for: a new head aiming earlier
  // needs a re-arm, a later one does not. Infinity when no timer is armed.
  private armedFor = Infinity;
  private firing = false;
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
  }

  /** How many handles wait. */
  get size(): number {
    return this.count;
  }

  /**
   * Fires `h` at `dueAt` (a `clock.now()` time; past times fire on the
   * next turn of the event loop, never synchronously). Keeps only the earliest
   * due time per handle: a later one is ignored. Ignored after `close()`.
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
    const latest = (this.latest[h] = dueAt - this.clock.now() >= SLACK_MIN_DELAY_MS ? dueAt + SLACK_MS : dueAt);
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
    // Re-arm only for a new head that must fire before the timer would.
    if (!this.firing && this.heap[0] === h && latest < this.armedFor) this.arm();
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
    const now = this.clock.now();
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

  private arm(): void {
    this.disarm();
    if (this.count === 0) return;
    const latest = this.latest[this.heap[0]];
    // Whole ms, rounded up: the timer can only run on a loop-clock tick, and
    // the first tick at or after due time plus slack is the one to aim for.
    // Past times get 0 (the next turn). Capped at what a timer can wait.
    const wait = Math.min(MAX_TIMER_MS, Math.ceil(latest - this.clock.now()));
    this.timer = this.clock.afterFunc(wait > 0 ? wait : 0, this.wake);
    this.armedFor = latest;
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
