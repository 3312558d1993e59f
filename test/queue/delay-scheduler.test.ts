import { afterEach, describe, expect, it, vi } from "vitest";
import { DelayScheduler } from "../../src/queue/delay-scheduler.js";
import { InvalidArgumentError } from "../../src/queue/errors.js";

/** A scheduler that records fires and resolves `until(n)` once n fired. */
function recorder() {
  const fired: { h: number; at: number }[] = [];
  let want = Infinity;
  let resolve: () => void = () => {};
  const s = new DelayScheduler((h) => {
    fired.push({ h, at: performance.now() });
    if (fired.length >= want) resolve();
  });
  const until = (n: number) =>
    new Promise<void>((r) => {
      want = n;
      resolve = r;
      if (fired.length >= n) r();
    });
  return { s, fired, until };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

afterEach(() => {
  vi.restoreAllMocks();
});

describe("DelayScheduler", () => {
  it("never fires early: 200 keys with delays 1..50 ms", async () => {
    const { s, fired, until } = recorder();
    const due = new Map<number, number>();
    const start = performance.now();
    for (let h = 0; h < 200; h++) {
      const at = start + 1 + ((h * 37) % 50);
      due.set(h, at);
      s.schedule(h, at);
    }
    expect(s.size).toBe(200);
    await until(200);
    expect(fired).toHaveLength(200);
    expect(new Set(fired.map((f) => f.h)).size).toBe(200); // each exactly once
    const early = fired.filter((f) => f.at < (due.get(f.h) as number));
    expect(early).toEqual([]);
    expect(s.size).toBe(0);
  });

  it("fires in due order", async () => {
    const { s, fired, until } = recorder();
    const now = performance.now();
    const dues = [9, 3, 7, 1, 5, 2, 8, 4, 6, 0].map((d) => now + d * 2);
    dues.forEach((d, h) => s.schedule(h, d));
    await until(10);
    const order = fired.map((f) => f.h);
    expect(order).toEqual([...order].sort((a, b) => (dues[a] as number) - (dues[b] as number)));
  });

  it("keeps the earliest due time per handle", async () => {
    const { s, fired, until } = recorder();
    const now = performance.now();
    s.schedule(1, now + 60);
    s.schedule(1, now + 5); // earlier: moves up
    s.schedule(1, now + 90); // later: ignored
    expect(s.dueAt(1)).toBe(now + 5);
    expect(s.size).toBe(1);
    await until(1);
    expect(fired[0]?.at).toBeGreaterThanOrEqual(now + 5);
    expect(s.has(1)).toBe(false);
    expect(Number.isNaN(s.dueAt(1))).toBe(true);
    // And only once: nothing is left to fire at +60 or +90.
    expect(s.size).toBe(0);
  });

  it("keeps heap order under random schedules, decrease-keys and cancels", async () => {
    const { s, fired, until } = recorder();
    const base = performance.now() - 1000; // all in the past: fire on the next turn
    const due = new Map<number, number>();
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 3000; i++) {
      const h = Math.floor(rnd() * 600);
      const r = rnd();
      if (r < 0.15) {
        expect(s.cancel(h)).toBe(due.delete(h));
      } else {
        const d = base + rnd() * 900;
        s.schedule(h, d);
        due.set(h, Math.min(due.get(h) ?? Infinity, d));
      }
      expect(s.size).toBe(due.size);
    }
    expect(s.nextDueAt()).toBe(Math.min(...due.values()));
    for (const [h, d] of due) expect(s.dueAt(h)).toBe(d);
    await until(due.size);
    expect(fired.map((f) => f.h)).toEqual([...due.entries()].sort((a, b) => a[1] - b[1]).map(([h]) => h));
  });

  it("cancel removes an entry so it never fires", async () => {
    const { s, fired, until } = recorder();
    const now = performance.now();
    s.schedule(1, now + 2);
    s.schedule(2, now + 10);
    expect(s.cancel(1)).toBe(true);
    expect(s.cancel(1)).toBe(false);
    expect(s.cancel(999_999)).toBe(false);
    await until(1);
    expect(fired.map((f) => f.h)).toEqual([2]);
  });

  it("arms one timer, re-armed only when the earliest due time moves earlier", () => {
    const spy = vi.spyOn(globalThis, "setTimeout");
    const s = new DelayScheduler(() => {});
    const now = performance.now();
    s.schedule(0, now + 500);
    for (let h = 1; h < 100; h++) s.schedule(h, now + 500 + h);
    expect(spy).toHaveBeenCalledTimes(1);
    s.schedule(100, now + 400); // new earliest
    expect(spy).toHaveBeenCalledTimes(2);
    s.schedule(0, now + 450); // earlier for its handle, not the earliest overall
    expect(spy).toHaveBeenCalledTimes(2);
    s.close();
  });

  it("an onFire error neither stops other fires nor the scheduler", async () => {
    const errors: [unknown, number][] = [];
    const fired: number[] = [];
    let done: () => void = () => {};
    const all = new Promise<void>((r) => (done = r));
    const s = new DelayScheduler(
      (h) => {
        fired.push(h);
        if (fired.length === 3) done();
        if (h === 1) throw new Error("boom");
      },
      { onError: (e, h) => errors.push([e, h]) },
    );
    const now = performance.now();
    s.schedule(1, now);
    s.schedule(2, now);
    s.schedule(3, now + 3);
    await all;
    expect(fired).toEqual([1, 2, 3]);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.[1]).toBe(1);
    expect((errors[0]?.[0] as Error).message).toBe("boom");
  });

  it("an entry onFire schedules in the past waits for the next turn instead of looping", async () => {
    let count = 0;
    let syncRuns = 0;
    let inTurn = false;
    let resolve: () => void = () => {};
    const five = new Promise<void>((r) => (resolve = r));
    const s = new DelayScheduler((h) => {
      count++;
      if (inTurn) syncRuns++;
      if (count === 5) {
        resolve();
        return;
      }
      inTurn = true;
      s.schedule(h, performance.now() - 1);
      queueMicrotask(() => (inTurn = false));
    });
    s.schedule(0, performance.now());
    await five;
    expect(count).toBe(5);
    expect(syncRuns).toBe(0);
    s.close();
  });

  it("close drops entries and the timer; later schedules are ignored", async () => {
    const { s, fired } = recorder();
    const now = performance.now();
    s.schedule(1, now + 1);
    s.schedule(2, now);
    s.close();
    expect(s.size).toBe(0);
    expect(s.has(1)).toBe(false);
    s.schedule(3, now);
    expect(s.size).toBe(0);
    await sleep(10);
    expect(fired).toEqual([]);
    expect(Number.isNaN(s.nextDueAt())).toBe(true);
  });

  it("rejects bad handles and due times", () => {
    const s = new DelayScheduler(() => {});
    expect(() => s.schedule(-1, 0)).toThrow(InvalidArgumentError);
    expect(() => s.schedule(1, Number.NaN)).toThrow(/dueAt must be a finite number/);
    expect(() => s.schedule(1, Infinity)).toThrow(InvalidArgumentError);
    expect(() => new DelayScheduler(undefined as unknown as () => void)).toThrow(/DelayScheduler.onFire/);
  });

  it("unref and ref keep working entries firing", async () => {
    const { s, until } = recorder();
    s.unref();
    s.schedule(1, performance.now() + 2);
    s.ref();
    await until(1);
  });
});
