// Queue semantics (DESIGN.md "Work queue"), the same on Node, Bun and Deno.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  BucketRateLimiter,
  DelayScheduler,
  ExponentialBackoffRateLimiter,
  FakeClock,
  MaxOfRateLimiter,
  RateLimitedWorkQueue,
  WorkQueue,
} from "../../src/queue.js";
import { within } from "./harness.js";

/** Settles `p` into a flag a test can read without awaiting it. */
function track<T>(p: Promise<T>): { settled: boolean; value: T | undefined } {
  const state: { settled: boolean; value: T | undefined } = { settled: false, value: undefined };
  void p.then((value) => {
    state.settled = true;
    state.value = value;
  });
  return state;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe("WorkQueue", () => {
  it("dedups a key added twice while it waits", async () => {
    const q = new WorkQueue<string>();
    q.add("a");
    q.add("b");
    q.add("a");
    assert.equal(q.len(), 2);
    assert.equal(await q.get(), "a");
    assert.equal(await q.get(), "b");
    assert.equal(q.len(), 0);
    assert.equal(q.processing(), 2);
  });

  it("never hands out a key that is processing; an add meanwhile re-queues it on done", async () => {
    const q = new WorkQueue<string>();
    q.add("a");
    assert.equal(await q.get(), "a");
    q.add("a");
    q.add("a");
    assert.equal(q.len(), 0, "a processing key is not ready again");
    const waiting = q.get();
    const next = track(waiting);
    await sleep(0);
    assert.equal(next.settled, false, "a second consumer must not get the processing key");
    q.done("a");
    assert.equal(await within(waiting, "the dirty key handed out after done"), "a");
    q.done("a");
    assert.equal(q.len(), 0, "two adds while processing give one more run, not two");
  });

  it("a waiting get resolves on the next add", async () => {
    const q = new WorkQueue<string>();
    const waiting = q.get();
    q.add("x");
    assert.equal(await within(waiting, "the waiting get"), "x");
  });

  it("shutDown refuses adds, lets consumers drain, then gives undefined", async () => {
    const q = new WorkQueue<string>();
    q.add("a");
    q.add("b");
    q.shutDown();
    q.add("c");
    assert.equal(q.shuttingDown(), true);
    assert.equal(await q.get(), "a");
    assert.equal(await q.get(), "b");
    assert.equal(await q.get(), undefined);
    const idle = new WorkQueue<string>();
    const waiting = idle.get();
    idle.shutDown();
    assert.equal(await within(waiting, "a get pending at shutDown"), undefined);
  });
});

describe("RateLimitedWorkQueue", () => {
  it("addAfter makes the key ready no earlier than its delay", async () => {
    const q = new RateLimitedWorkQueue<string>();
    const start = performance.now();
    q.addAfter("a", 20);
    assert.equal(q.len(), 0);
    assert.equal(q.delayed(), 1);
    assert.equal(await within(q.get(), "the delayed key"), "a");
    assert.ok(performance.now() - start >= 20, `fired after ${performance.now() - start} ms, before its 20 ms`);
    q.shutDown();
  });

  it("keeps the earliest due time of two addAfter calls", async () => {
    const q = new RateLimitedWorkQueue<string>();
    const start = performance.now();
    q.addAfter("a", 5_000);
    q.addAfter("a", 10);
    assert.equal(q.delayed(), 1);
    assert.equal(await within(q.get(), "the earlier due time", 2_000), "a");
    assert.ok(performance.now() - start >= 10);
    q.shutDown();
  });

  it("a plain add of a delayed key makes it ready now and drops the delayed entry", async () => {
    const q = new RateLimitedWorkQueue<string>();
    q.addAfter("a", 30);
    q.add("a");
    assert.equal(q.delayed(), 0);
    assert.equal(q.len(), 1);
    assert.equal(await q.get(), "a");
    q.done("a");
    await sleep(50);
    assert.equal(q.len(), 0, "the old delay must not add it again");
    q.shutDown();
  });

  it("addRateLimited backs off exponentially per key; forget resets", async () => {
    const limiter = new ExponentialBackoffRateLimiter<string>(5, 40);
    assert.deepEqual([1, 2, 3, 4, 5].map(() => limiter.when("k")), [5, 10, 20, 40, 40]);
    assert.equal(limiter.numRequeues("k"), 5);
    assert.equal(limiter.when("other"), 5, "keys back off independently");
    limiter.forget("k");
    assert.equal(limiter.numRequeues("k"), 0);
    assert.equal(limiter.when("k"), 5);

    const q = new RateLimitedWorkQueue<string>(new ExponentialBackoffRateLimiter<string>(5, 1000));
    q.addRateLimited("a");
    q.addRateLimited("a");
    assert.equal(q.numRequeues("a"), 2);
    assert.equal(await within(q.get(), "the rate-limited key"), "a");
    q.forget("a");
    assert.equal(q.numRequeues("a"), 0);
    q.shutDown();
  });

  it("whenIdle ignores keys that only wait for their delay", async () => {
    const q = new RateLimitedWorkQueue<string>();
    q.addAfter("later", 60_000);
    q.add("now");
    const key = await q.get();
    q.done(key!);
    await within(q.whenIdle(), "idle with a delayed key pending");
    assert.equal(q.delayed(), 1);
    q.shutDown();
    assert.equal(q.delayed(), 0, "shutDown drops delayed keys");
  });
});

describe("rate limiters", () => {
  it("BucketRateLimiter allows a burst, then qps", () => {
    let now = 0;
    const limiter = new BucketRateLimiter<string>(10, 2, { clock: { now: () => now } });
    assert.deepEqual([limiter.when("a"), limiter.when("b"), limiter.when("c")], [0, 0, 100]);
    now = 1000;
    assert.equal(limiter.when("d"), 0);
  });

  it("MaxOfRateLimiter waits the longest of its limiters", () => {
    let now = 0;
    const limiter = new MaxOfRateLimiter<string>(
      new ExponentialBackoffRateLimiter<string>(5, 1000),
      new BucketRateLimiter<string>(10, 1, { clock: { now: () => now } }),
    );
    assert.equal(limiter.when("a"), 5);
    assert.equal(limiter.when("a"), 100);
    assert.equal(limiter.numRequeues("a"), 2);
    limiter.forget("a");
    assert.equal(limiter.numRequeues("a"), 0);
  });

  it("reject bad arguments by name", () => {
    assert.throws(() => new ExponentialBackoffRateLimiter(0, 10), /baseMs/);
    assert.throws(() => new BucketRateLimiter(10, 0), /burst/);
    assert.throws(() => new RateLimitedWorkQueue<string>().addAfter("a", Number.NaN), /addAfter/);
  });
});

describe("DelayScheduler", () => {
  it("fires every handle once, in due order, none early", async () => {
    const fired: { h: number; at: number }[] = [];
    const due = new Map<number, number>();
    let finish!: () => void;
    const all = new Promise<void>((resolve) => (finish = resolve));
    const n = 40;
    const scheduler = new DelayScheduler((h) => {
      fired.push({ h, at: performance.now() });
      if (fired.length === n) finish();
    });
    const start = performance.now();
    for (let h = 0; h < n; h++) {
      const at = start + 1 + ((h * 7) % 30);
      due.set(h, at);
      scheduler.schedule(h, at);
    }
    await within(all, `${n} handles firing`);
    scheduler.close();
    assert.deepEqual(new Set(fired.map((f) => f.h)).size, n);
    for (const { h, at } of fired) assert.ok(at >= due.get(h)!, `handle ${h} fired ${due.get(h)! - at} ms early`);
    const dueTimes = fired.map((f) => due.get(f.h)!);
    assert.deepEqual(dueTimes, [...dueTimes].sort((a, b) => a - b));
  });

  it("sleeps on a clock: on a FakeClock it fires at the whole millisecond and waits out 30 days in timer-sized steps", () => {
    const clock = new FakeClock({ earlyByMs: 1 });
    const fired: [number, number][] = [];
    const scheduler = new DelayScheduler((h) => fired.push([h, clock.now()]), { clock });
    scheduler.schedule(1, 5.5);
    scheduler.schedule(2, 30 * 86_400_000); // past a timer's 2^31-1 ms: re-armed, not fired every 1 ms
    clock.step(31 * 86_400_000);
    assert.equal(fired.length, 2);
    assert.ok(fired[0][0] === 1 && fired[0][1] >= 5.5 && fired[0][1] <= 6.5, `handle 1 fired at ${fired[0][1]}`);
    assert.ok(fired[1][0] === 2 && fired[1][1] >= 30 * 86_400_000, `handle 2 fired at ${fired[1][1]}`);
    assert.ok(clock.firedCount() < 10, `${clock.firedCount()} wake-ups`);
  });
});
