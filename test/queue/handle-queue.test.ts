import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../src/queue/errors.js";
import { HandleQueue } from "../../src/queue/handle-queue.js";

describe("HandleQueue", () => {
  it("dedups: a handle added twice is handed out once", () => {
    const q = new HandleQueue();
    expect(q.add(3)).toBe(true);
    expect(q.add(3)).toBe(false);
    expect(q.len()).toBe(1);
    expect(q.tryGet()).toBe(3);
    expect(q.tryGet()).toBe(-1);
  });

  it("hands out handles in FIFO order and tracks processing", () => {
    const q = new HandleQueue();
    for (const h of [5, 1, 9]) q.add(h);
    expect(q.tryGet()).toBe(5);
    expect(q.tryGet()).toBe(1);
    expect(q.processing()).toBe(2);
    expect(q.isProcessing(5)).toBe(true);
    expect(q.isDirty(5)).toBe(false);
    expect(q.isQueued(9)).toBe(true);
    q.done(5);
    expect(q.processing()).toBe(1);
    expect(q.isIdle(5)).toBe(true);
  });

  it("re-queues a handle added while processing, after done and not before", () => {
    const q = new HandleQueue();
    q.add(1);
    expect(q.tryGet()).toBe(1);
    expect(q.add(1)).toBe(true);
    expect(q.isDirty(1)).toBe(true);
    // Not before done: nobody else may get it while it is processing.
    expect(q.len()).toBe(0);
    expect(q.tryGet()).toBe(-1);
    expect(q.add(1)).toBe(false); // already dirty
    q.done(1);
    expect(q.len()).toBe(1);
    expect(q.tryGet()).toBe(1);
    q.done(1);
    expect(q.tryGet()).toBe(-1);
    expect(q.isIdle(1)).toBe(true);
  });

  it("ignores done of a handle that is not processing", () => {
    const q = new HandleQueue();
    q.done(4);
    q.add(4);
    q.done(4); // queued, not processing
    expect(q.len()).toBe(1);
    expect(q.processing()).toBe(0);
    expect(q.tryGet()).toBe(4);
    q.done(4);
    q.done(4);
    expect(q.processing()).toBe(0);
  });

  it("grows its flags for large handles", () => {
    const q = new HandleQueue();
    q.add(100_000);
    q.add(2);
    expect(q.tryGet()).toBe(100_000);
    expect(q.isProcessing(100_000)).toBe(true);
  });

  it("rejects handles that are not integers in 0..2^31-1", () => {
    const q = new HandleQueue();
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 31]) {
      expect(() => q.add(bad)).toThrow(InvalidArgumentError);
    }
    expect(() => q.add(-1)).toThrow(/HandleQueue.add: handle must be an integer/);
    // Within the flags too (the unchecked fast path must not take these).
    q.add(5);
    expect(() => q.add(1.5)).toThrow(InvalidArgumentError);
    expect(() => q.add("3" as unknown as number)).toThrow(InvalidArgumentError);
    expect(q.len()).toBe(1);
  });

  it("wakes waiting get() calls in FIFO order", async () => {
    const q = new HandleQueue();
    const a = q.get();
    const b = q.get();
    q.add(10);
    q.add(11);
    expect(await a).toBe(10);
    expect(await b).toBe(11);
    expect(q.processing()).toBe(2);
  });

  it("shutDown refuses adds; get returns what remains, then undefined; drained resolves", async () => {
    const q = new HandleQueue();
    q.add(1);
    q.add(2);
    q.shutDown();
    expect(q.shuttingDown()).toBe(true);
    expect(q.add(3)).toBe(false);
    expect(q.len()).toBe(2);
    let drained = false;
    const d = q.drained().then(() => {
      drained = true;
    });
    expect(await q.get()).toBe(1);
    expect(await q.get()).toBe(2);
    expect(await q.get()).toBeUndefined();
    await Promise.resolve();
    expect(drained).toBe(false); // 1 and 2 still processing
    q.done(1);
    q.done(2);
    await d;
    expect(drained).toBe(true);
  });

  it("shutDown releases waiters with undefined when nothing is ready", async () => {
    const q = new HandleQueue();
    const waiting = [q.get(), q.get()];
    q.shutDown();
    expect(await Promise.all(waiting)).toEqual([undefined, undefined]);
    await q.drained();
  });

  it("after shutDown, get returns undefined at once even while a processing handle is dirty (client-go); done re-queues it", async () => {
    const q = new HandleQueue();
    q.add(7);
    expect(q.tryGet()).toBe(7);
    q.add(7); // dirty while processing
    q.shutDown();
    // A consumer calling get before its own done must not block itself.
    expect(await q.get()).toBeUndefined();
    q.done(7); // re-queued for a later get, as client-go's Done does
    expect(q.len()).toBe(1);
    expect(await q.get()).toBe(7);
    expect(await q.get()).toBeUndefined();
    q.done(7);
    await q.drained();
  });

  it("shutDownWithDrain: get waits for a dirty processing handle to come back, and it resolves once drained", async () => {
    const q = new HandleQueue();
    q.add(7);
    q.add(8);
    expect(q.tryGet()).toBe(7);
    q.add(7); // dirty while processing
    let drained = false;
    const d = q.shutDownWithDrain().then(() => (drained = true));
    expect(q.add(9)).toBe(false);
    expect(await q.get()).toBe(8);
    const next = q.get(); // must not resolve undefined: 7 comes back on done
    q.done(8);
    q.done(7);
    expect(await next).toBe(7);
    expect(await q.get()).toBeUndefined();
    expect(drained).toBe(false); // 7 still processing
    q.done(7);
    await d;
    expect(q.len()).toBe(0);
    expect(q.processing()).toBe(0);
  });

  it("shutDown after shutDownWithDrain stops the waiting", async () => {
    const q = new HandleQueue();
    q.add(7);
    expect(q.tryGet()).toBe(7);
    q.add(7);
    void q.shutDownWithDrain();
    const waiting = q.get();
    q.shutDown();
    expect(await waiting).toBeUndefined();
  });

  it("whenIdle resolves once nothing is ready or processing", async () => {
    const q = new HandleQueue();
    await q.whenIdle(); // idle from the start
    q.add(1);
    let idle = false;
    const w = q.whenIdle().then(() => {
      idle = true;
    });
    expect(q.tryGet()).toBe(1);
    q.add(1);
    q.done(1); // re-queued: not idle
    await Promise.resolve();
    expect(idle).toBe(false);
    expect(q.tryGet()).toBe(1);
    q.done(1);
    await w;
    expect(idle).toBe(true);
  });

  it("never hands a handle out twice at once under racing adds and 4 consumers", async () => {
    const q = new HandleQueue();
    const keys = 50;
    const inFlight = new Set<number>();
    let violations = 0;
    let runs = 0;
    let added = 0;

    const producer = async () => {
      for (let i = 0; i < 1000; i++) {
        q.add(i % keys);
        added++;
        if (i % 7 === 0) await Promise.resolve();
      }
    };
    const consumer = async (id: number) => {
      for (;;) {
        const h = await q.get();
        if (h === undefined) return;
        if (inFlight.has(h)) violations++;
        inFlight.add(h);
        runs++;
        // Work with awaits in between, adding other keys (and itself) meanwhile.
        await Promise.resolve();
        q.add((h + id + 1) % keys);
        await new Promise<void>((r) => setImmediate(r));
        q.add(h);
        inFlight.delete(h);
        q.done(h);
        // Consumers keep each other busy through re-adds; stop once the producer
        // is through and enough runs raced, then drain.
        if (added === 1000 && runs >= 3000) q.shutDown();
      }
    };

    const consumers = [0, 1, 2, 3].map(consumer);
    await producer();
    expect(added).toBe(1000);
    await Promise.all(consumers);
    await q.drained();
    expect(violations).toBe(0);
    expect(runs).toBeGreaterThan(keys);
    expect(q.processing()).toBe(0);
    expect(q.len()).toBe(0);
  });
});
