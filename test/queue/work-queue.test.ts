import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../src/queue/errors.js";
import { WorkQueue } from "../../src/queue/work-queue.js";

/** A full, synchronous garbage collection (exposed at run time: vitest's workers run without --expose-gc). */
function collectGarbage(): void {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
}

describe("WorkQueue", () => {
  it("dedups: a key added twice is handed out once", async () => {
    const q = new WorkQueue();
    q.add("Device/a");
    q.add("Device/a");
    q.add("Device/b");
    expect(q.len()).toBe(2);
    expect(await q.get()).toBe("Device/a");
    expect(await q.get()).toBe("Device/b");
    expect(q.len()).toBe(0);
    expect(q.processing()).toBe(2);
  });

  it("re-runs a key added while processing, after done and not before", async () => {
    const q = new WorkQueue();
    q.add("k");
    expect(await q.get()).toBe("k");
    q.add("k");
    expect(q.len()).toBe(0);
    let got: string | undefined;
    const next = q.get().then((k) => (got = k));
    await Promise.resolve();
    await Promise.resolve();
    expect(got).toBeUndefined(); // still processing: not handed out again
    q.done("k");
    await next;
    expect(got).toBe("k");
    q.done("k");
    expect(q.processing()).toBe(0);
    expect(q.len()).toBe(0);
  });

  it("releases idle keys in bulk, so an unbounded key space stays bounded; re-adds keep working", async () => {
    const q = new WorkQueue<string>();
    for (let i = 0; i < 50_000; i++) {
      q.add(`k${i}`);
      const k = await q.get();
      q.done(k!);
      expect(q.keyCount()).toBeLessThanOrEqual(2 * 4096 + 1);
    }
    q.add("k7");
    expect(await q.get()).toBe("k7");
    q.done("k7");
    expect(q.processing()).toBe(0);
  });

  it("releases a key's handle when it goes idle, and a released key can be re-added", async () => {
    const q = new WorkQueue();
    q.add("a");
    const h = q.handleOf("a");
    expect(q.keyOf(h)).toBe("a");
    expect(await q.get()).toBe("a");
    q.add("a"); // dirty while processing: must NOT be released on done
    q.done("a");
    expect(q.keyOf(h)).toBe("a");
    expect(q.len()).toBe(1);
    expect(await q.get()).toBe("a");
    q.done("a");
    // Idle now: released (here at once; on its own in bulk, see below), its handle free for the next key.
    expect(q.release("a")).toBe(true);
    expect(() => q.keyOf(h)).toThrow(InvalidArgumentError);
    q.add("b");
    expect(q.handleOf("b")).toBe(h);
    q.add("a");
    expect(q.len()).toBe(2);
    expect(q.processing()).toBe(0);
    expect(await q.get()).toBe("b");
    expect(await q.get()).toBe("a");
    expect(q.processing()).toBe(2);
    q.done("a");
    q.done("b");
    expect(q.processing()).toBe(0);
  });

  it("retainKeys keeps handles stable across idle", async () => {
    const q = new WorkQueue({ retainKeys: true });
    q.add("a");
    const h = q.handleOf("a");
    expect(await q.get()).toBe("a");
    q.done("a");
    expect(q.keyOf(h)).toBe("a");
    q.add("b");
    expect(q.handleOf("b")).not.toBe(h);
    // Explicit release of an idle key frees it.
    expect(q.release("a")).toBe(true);
    expect(() => q.keyOf(h)).toThrow(InvalidArgumentError);
    // A queued key cannot be released.
    expect(q.release("b")).toBe(false);
    expect(q.release("never-seen")).toBe(false);
  });

  it("exposes the handle API without hashing", async () => {
    const q = new WorkQueue();
    const h = q.handleOf("x");
    q.addHandle(h);
    q.addHandle(h);
    expect(q.len()).toBe(1);
    expect(q.tryGetHandle()).toBe(h);
    expect(q.tryGetHandle()).toBe(-1);
    const waiting = q.getHandle();
    q.add("y");
    const hy = await waiting;
    expect(hy).toBe(q.handleOf("y"));
    q.doneHandle(h);
    q.doneHandle(hy as number);
    expect(q.processing()).toBe(0);
    expect(() => q.addHandle(12345)).toThrow(/WorkQueue.addHandle: handle 12345 holds no key/);
  });

  it("done of a key that is not processing is a no-op", async () => {
    const q = new WorkQueue();
    q.done("ghost");
    q.add("a");
    q.done("a");
    expect(q.len()).toBe(1);
    expect(await q.get()).toBe("a");
  });

  it("an object key added, got, done and released is collectable at once (client-go's TestGarbageCollection)", async () => {
    const q = new WorkQueue<{ data: string }>();
    const ref = await (async () => {
      const key = { data: "hello" };
      q.add(key);
      const got = await q.get();
      q.done(got as { data: string });
      expect(q.release(key)).toBe(true);
      return new WeakRef(key);
    })();
    // A WeakRef's target is kept until the job that made it ends: let it end first.
    await new Promise((resolve) => setTimeout(resolve, 0));
    collectGarbage();
    expect(ref.deref()).toBeUndefined();
    q.add({ data: "again" }); // the queue still works
    expect(await q.get()).toEqual({ data: "again" });
  });

  it("shutDownWithDrain waits for a key re-added while processing to run again; shutDown does not", async () => {
    const q = new WorkQueue();
    q.add("a");
    expect(await q.get()).toBe("a");
    q.add("a"); // dirty while processing
    const drained = q.shutDownWithDrain();
    const next = q.get();
    q.done("a");
    expect(await next).toBe("a");
    q.done("a");
    await drained;

    const plain = new WorkQueue();
    plain.add("b");
    expect(await plain.get()).toBe("b");
    plain.add("b");
    plain.shutDown();
    expect(await plain.get()).toBeUndefined(); // at once: "b" is still processing
  });

  it("shutDown refuses adds; get returns what remains, then undefined; drained resolves", async () => {
    const q = new WorkQueue();
    q.add("a");
    q.add("b");
    q.shutDown();
    expect(q.shuttingDown()).toBe(true);
    q.add("c");
    expect(q.len()).toBe(2);
    expect(await q.get()).toBe("a");
    expect(await q.get()).toBe("b");
    expect(await q.get()).toBeUndefined();
    expect(await q.get()).toBeUndefined();
    q.done("a");
    q.done("b");
    await q.drained();
    expect(q.processing()).toBe(0);
  });

  it("whenIdle resolves after the last done", async () => {
    const q = new WorkQueue();
    q.add("a");
    const idle = q.whenIdle();
    const k = await q.get();
    expect(q.processing()).toBe(1);
    q.done(k as string);
    await idle;
    expect(q.processing()).toBe(0);
  });

  it("never hands a key to two consumers at once (1,000 racing adds, 4 consumers)", async () => {
    const q = new WorkQueue<string>();
    const key = (i: number) => `Device/d${i % 40}`;
    const inFlight = new Set<string>();
    const seen = new Set<string>();
    let violations = 0;
    let runs = 0;
    let producing = true;

    const producer = async () => {
      for (let i = 0; i < 1000; i++) {
        q.add(key(i));
        if (i % 5 === 0) await new Promise<void>((r) => setImmediate(r));
      }
      producing = false;
    };
    const consumer = async (id: number) => {
      for (;;) {
        const k = await q.get();
        if (k === undefined) return;
        if (inFlight.has(k)) violations++;
        inFlight.add(k);
        seen.add(k);
        runs++;
        await Promise.resolve();
        q.add(key(runs + id)); // add others (and maybe itself) mid-flight
        await new Promise<void>((r) => setImmediate(r));
        inFlight.delete(k);
        q.done(k);
        if (!producing && runs >= 2000) q.shutDown();
      }
    };
    const consumers = Promise.all([0, 1, 2, 3].map(consumer));
    await producer();
    // Consumers shut down after enough runs; if their re-adds die out first, do it here.
    await Promise.race([q.whenIdle(), consumers]);
    q.shutDown();
    await consumers;
    await q.drained();
    expect(violations).toBe(0);
    expect(seen.size).toBe(40);
    expect(q.processing()).toBe(0);
  });

  it("rejects bad options", () => {
    expect(() => new WorkQueue({ retainKeys: "yes" as unknown as boolean })).toThrow(/WorkQueue.options.retainKeys/);
  });
});
