import { describe, expect, it } from "vitest";
import { ExponentialBackoffRateLimiter } from "../../src/queue/exponential-backoff-rate-limiter.js";
import { FakeClock } from "../../src/queue/fake-clock.js";
import { RateLimitedWorkQueue } from "../../src/queue/rate-limited-work-queue.js";
import type { RateLimiter } from "../../src/queue/rate-limiter.js";

/** A queue on a fake clock: delays pass only when the test steps it. */
function fakeQueue(limiter?: RateLimiter<string>, options: { retainKeys?: boolean } = {}) {
  const clock = new FakeClock();
  return { q: new RateLimitedWorkQueue<string>(limiter, { ...options, clock }), clock };
}

describe("RateLimitedWorkQueue", () => {
  it("addAfter makes a key ready only once its delay has passed", async () => {
    const { q, clock } = fakeQueue();
    q.addAfter("a", 15);
    expect(q.len()).toBe(0);
    expect(q.delayed()).toBe(1);
    clock.step(14.9);
    expect(q.len()).toBe(0);
    clock.step(0.1);
    expect(q.len()).toBe(1);
    expect(q.delayed()).toBe(0);
    expect(await q.get()).toBe("a");
    q.done("a");
    q.shutDown();
  });

  it("addAfter with ms <= 0 adds now", () => {
    const { q } = fakeQueue();
    q.addAfter("a", 0);
    q.addAfter("b", -5);
    expect(q.len()).toBe(2);
    expect(q.delayed()).toBe(0);
    q.shutDown();
  });

  it("addAfter keeps the earliest due time per key", async () => {
    const { q, clock } = fakeQueue();
    q.addAfter("a", 80);
    q.addAfter("a", 10);
    q.addAfter("a", 60);
    expect(q.delayed()).toBe(1);
    clock.step(10);
    expect(q.delayed()).toBe(0); // the 60/80 ms entries were coalesced away
    expect(await q.get()).toBe("a");
    q.done("a");
    clock.step(100);
    expect(q.len()).toBe(0);
    q.shutDown();
  });

  it("a plain add cancels a delayed entry: runs once, now, and not again later", async () => {
    const { q, clock } = fakeQueue();
    q.addAfter("a", 30);
    q.add("a");
    expect(q.delayed()).toBe(0);
    expect(q.len()).toBe(1);
    expect(await q.get()).toBe("a");
    q.done("a");
    clock.step(45); // past the old due time
    expect(q.len()).toBe(0);
    expect(q.processing()).toBe(0);
    q.shutDown();
    expect(await q.get()).toBeUndefined();
  });

  // Adds skip the scheduler check while nothing is delayed (the hot path); a
  // delay after such adds, and after the scheduler emptied, must still be superseded.
  it("a plain add or addHandle cancels a delayed entry whatever came before", () => {
    const { q, clock } = fakeQueue({ when: () => 0, forget: () => {}, numRequeues: () => 0 }, { retainKeys: true });
    const a = q.handleOf("a");
    const b = q.handleOf("b");
    for (let round = 0; round < 3; round++) {
      q.addHandle(a); // nothing delayed: the fast path
      expect(q.tryGetHandle()).toBe(a);
      q.doneHandle(a);
      q.addAfterHandle(b, 20);
      q.addAfter("a", 20);
      q.addHandle(b);
      q.add("a");
      expect(q.delayed()).toBe(0);
      expect(q.len()).toBe(2);
      expect(q.tryGetHandle()).toBe(b);
      expect(q.tryGetHandle()).toBe(a);
      q.doneHandle(a);
      q.doneHandle(b);
    }
    q.addAfterHandle(b, 1);
    clock.step(1); // fired: the scheduler is empty again
    expect(q.len()).toBe(1);
    expect(q.tryGetHandle()).toBe(b);
    q.doneHandle(b);
    q.addAfterHandle(a, 20);
    q.addHandle(a);
    expect(q.delayed()).toBe(0);
    expect(q.tryGetHandle()).toBe(a);
    q.doneHandle(a);
    clock.step(30);
    expect(q.len()).toBe(0);
    q.shutDown();
  });

  it("a delayed key keeps its handle while idle and fires by it", async () => {
    const { q, clock } = fakeQueue();
    q.add("a");
    expect(await q.get()).toBe("a");
    const h = q.handleOf("a");
    q.addAfter("a", 5);
    q.done("a"); // idle in the queue, but waiting in the scheduler
    expect(q.keyOf(h)).toBe("a");
    expect(q.release("a")).toBe(false);
    clock.step(5);
    expect(await q.get()).toBe("a");
    q.done("a");
    expect(q.release("a")).toBe(true); // releasable once truly idle
    expect(() => q.keyOf(h)).toThrow();
    q.shutDown();
  });

  it("a key delayed while processing re-runs after done", async () => {
    const { q, clock } = fakeQueue();
    q.add("a");
    expect(await q.get()).toBe("a");
    q.addAfter("a", 2);
    clock.step(2);
    expect(q.delayed()).toBe(0);
    // Fired while processing: dirty, not handed out.
    expect(q.len()).toBe(0);
    expect(q.processing()).toBe(1);
    q.done("a");
    expect(q.len()).toBe(1);
    expect(await q.get()).toBe("a");
    q.shutDown();
  });

  it("addRateLimited backs off per key, never early; forget resets it", async () => {
    const limiter = new ExponentialBackoffRateLimiter<string>(2, 1000);
    const { q, clock } = fakeQueue(limiter);
    for (let i = 0; i < 3; i++) {
      expect(q.addRateLimited("a")).toBe(2 * 2 ** i);
      clock.step(2 * 2 ** i - 0.5);
      expect(q.len()).toBe(0);
      clock.step(0.5);
      expect(await q.get()).toBe("a");
      q.done("a");
    }
    expect(q.numRequeues("a")).toBe(3);
    q.forget("a");
    expect(q.numRequeues("a")).toBe(0);
    expect(limiter.when("a")).toBe(2);
    q.shutDown();
  });

  it("addAfterHandle is the handle-level addAfter", async () => {
    const { q, clock } = fakeQueue();
    const h = q.handleOf("x");
    q.addAfterHandle(h, 3);
    expect(q.delayed()).toBe(1);
    clock.step(3);
    expect(await q.getHandle()).toBe(h);
    q.doneHandle(h);
    expect(() => q.addAfterHandle(99_999, 1)).toThrow(/addAfterHandle: handle 99999 holds no key/);
    q.shutDown();
  });

  it("a requeueAfter of 30 days waits in timer-sized steps and fires then, not every millisecond", () => {
    const { q, clock } = fakeQueue();
    const day = 86_400_000;
    q.addAfter("a", 30 * day);
    clock.step(30 * day - 1);
    expect(q.len()).toBe(0);
    clock.step(1 + 100); // plus its slack (0.1% of the delay, at most 100 ms)
    expect(q.len()).toBe(1);
    expect(clock.firedCount()).toBe(2); // 2^31-1 ms, then the rest
    q.shutDown();
  });

  it("shutDown drops delayed keys and refuses later ones; consumers drain", async () => {
    const { q, clock } = fakeQueue();
    q.add("ready");
    q.addAfter("later", 5);
    q.shutDown();
    expect(q.delayed()).toBe(0);
    expect(clock.pending()).toBe(0);
    q.addAfter("more", 1);
    q.addRateLimited("more");
    q.add("more");
    expect(q.delayed()).toBe(0);
    expect(await q.get()).toBe("ready");
    expect(await q.get()).toBeUndefined();
    q.done("ready");
    await q.drained();
    clock.step(10);
    expect(q.len()).toBe(0);
  });

  it("shutDownWithDrain also drops delayed keys, and resolves once the processing key is done", async () => {
    const { q, clock } = fakeQueue();
    q.add("a");
    expect(await q.get()).toBe("a");
    q.addAfter("b", 5);
    let drained = false;
    const d = q.shutDownWithDrain().then(() => (drained = true));
    expect(q.delayed()).toBe(0);
    expect(clock.pending()).toBe(0);
    await Promise.resolve();
    expect(drained).toBe(false);
    q.done("a");
    await d;
  });

  it("rejects bad delays, limiters and clocks", () => {
    const q = new RateLimitedWorkQueue();
    expect(() => q.addAfter("a", Number.NaN)).toThrow(/RateLimitedWorkQueue.addAfter: delay must be a finite number/);
    expect(() => q.addAfter("a", Infinity)).toThrow(/addAfter/);
    expect(() => new RateLimitedWorkQueue({} as never)).toThrow(/RateLimitedWorkQueue.rateLimiter/);
    expect(() => new RateLimitedWorkQueue(undefined, { clock: {} as FakeClock })).toThrow(/WorkQueue.options.clock: must be a clock/);
    q.shutDown();
  });
});
