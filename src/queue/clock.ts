import { InvalidArgumentError, describe } from "./errors.js";

/**
 * Longest delay a runtime timer takes (2^31-1 ms, about 24.8 days). Node turns
 * a longer one into 1 ms (with a TimeoutOverflowWarning): arm at most this and
 * re-arm on waking.
 */
export const MAX_TIMER_MS = 0x7fffffff;

/** A pending `Clock.afterFunc` call. */
export interface ClockTimer {
  /** Cancels the call if it has not run yet. */
  stop(): void;
  /** Lets the process exit while this timer waits (no-op where timers cannot be unref'd). */
  unref(): void;
  /** Undoes `unref()`. */
  ref(): void;
}

/**
 * Time as the queues see it (client-go's clock.WithTicker, the part they use):
 * `now()` in milliseconds on a monotonic scale, and one-shot timers. The
 * default, `realClock`, is `performance.now()` and `setTimeout`; tests pass a
 * `FakeClock` and step it.
 */
export interface Clock {
  /** Milliseconds on a monotonic scale (`performance.now()` for the real clock). */
  now(): number;
  /**
   * Calls `fn` once, about `ms` (0..MAX_TIMER_MS) milliseconds from now.
   * Like a runtime timer it may run a little early (the loop clock is whole
   * milliseconds): a caller that must not be early re-reads `now()`.
   */
  afterFunc(ms: number, fn: () => void): ClockTimer;
}

class RealTimer implements ClockTimer {
  // Node and Bun return an object with ref/unref; Deno a plain number.
  private readonly id: ReturnType<typeof setTimeout>;

  constructor(id: ReturnType<typeof setTimeout>) {
    this.id = id;
  }

  stop(): void {
    clearTimeout(this.id);
  }

  unref(): void {
    (this.id as { unref?: () => void }).unref?.();
  }

  ref(): void {
    (this.id as { ref?: () => void }).ref?.();
  }
}

/** `performance.now()` and `setTimeout`. */
export const realClock: Clock = {
  now: () => performance.now(),
  afterFunc: (ms, fn) => new RealTimer(setTimeout(fn, ms)),
};

/** Throws unless `clock` has `now` and (unless `timers` is false) `afterFunc` functions. */
export function checkClock(path: string, clock: unknown, timers = true): asserts clock is Clock {
  const c = clock as Partial<Clock> | null;
  if (c === null || typeof c !== "object" || typeof c.now !== "function" || (timers && typeof c.afterFunc !== "function")) {
    throw new InvalidArgumentError(path, `must be a clock with ${timers ? "now and afterFunc methods" : "a now method"}, got ${describe(clock)}`);
  }
}
