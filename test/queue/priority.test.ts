import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../src/queue/errors.js";
import { ExponentialBackoffRateLimiter } from "../../src/queue/exponential-backoff-rate-limiter.js";
import { FakeClock } from "../../src/queue/fake-clock.js";
import { HandleQueue } from "../../src/queue/handle-queue.js";
import { HIGH_PRIORITY, LOW_PRIORITY } from "../../src/queue/priority.js";
import { RateLimitedWorkQueue } from "../../src/queue/rate-limited-work-queue.js";
import { WorkQueue } from "../../src/queue/work-queue.js";


function drain(q: HandleQueue): number[] {
  const out: number[] = [];
  for (let h = q.tryGet(); h >= 0; h = q.tryGet()) out.push(h);
  return out;
}

function total(m: Map<number, number>): number {
  let n = 0;
  for (const v of m.values()) n += v;
  return n;
}

describe("HandleQueue priorities", () => {
  it("serves higher priorities first and each priority FIFO", () => {
    const q = new HandleQueue();
    q.add(1);
    q.add(2, LOW_PRIORITY);
    q.add(3, HIGH_PRIORITY);
    q.add(4);
    q.add(5, LOW_PRIORITY);
    q.add(6, HIGH_PRIORITY);
    q.add(7, 5);
    expect(q.len()).toBe(7);
    expect(q.lenByPriority()).toEqual(new Map([[HIGH_PRIORITY, 2], [5, 1], [0, 2], [LOW_PRIORITY, 2]]));
    expect([...q.lenByPriority().keys()]).toEqual([HIGH_PRIORITY, 5, 0, LOW_PRIORITY]);
    expect(drain(q)).toEqual([3, 6, 7, 1, 4, 2, 5]);
    expect(q.len()).toBe(0);
    expect(q.processing()).toBe(7);
  });

  it("moves a queued handle up on a higher add, and counts it once", () => {
    const q = new HandleQueue();
    q.add(1, LOW_PRIORITY);
    q.add(2, LOW_PRIORITY);
    q.add(3);
    expect(q.add(2, HIGH_PRIORITY)).toBe(true);
    expect(q.priorityOf(2)).toBe(HIGH_PRIORITY);
    expect(q.len()).toBe(3); // the entry left at LOW is stale, not counted
    expect(q.lenByPriority()).toEqual(new Map([[HIGH_PRIORITY, 1], [0, 1], [LOW_PRIORITY, 1]]));
    expect(q.add(1, 0)).toBe(true); // up to 0: behind 3, which was there first
    expect(q.len()).toBe(3);
    const order: number[] = [];
    for (let h = q.tryGet(); h >= 0; h = q.tryGet()) {
      order.push(h);
      expect(q.len()).toBe(3 - order.length); // never counts the stale entries
    }
    expect(order).toEqual([2, 3, 1]);
    expect(q.lenByPriority()).toEqual(new Map([[HIGH_PRIORITY, 0], [0, 0], [LOW_PRIORITY, 0]]));
  });

  it("ignores an add at a priority no higher than the one a handle has", () => {
    const q = new HandleQueue();
    q.add(1, HIGH_PRIORITY);
    q.add(2);
    expect(q.add(1)).toBe(false);
    expect(q.add(1, LOW_PRIORITY)).toBe(false);
    expect(q.add(1, HIGH_PRIORITY)).toBe(false);
    expect(q.priorityOf(1)).toBe(HIGH_PRIORITY);
    expect(q.len()).toBe(2);
    expect(drain(q)).toEqual([1, 2]);
  });

  it("re-queues a handle dirtied while processing at the highest priority added meanwhile", () => {
    const q = new HandleQueue();
    q.add(1, LOW_PRIORITY);
    expect(q.tryGet()).toBe(1);
    expect(q.add(1, LOW_PRIORITY)).toBe(true);
    expect(q.add(1, HIGH_PRIORITY)).toBe(true);
    expect(q.add(1)).toBe(false);
    expect(q.priorityOf(1)).toBe(HIGH_PRIORITY);
    q.add(2);
    q.add(3, 50);
    expect(q.len()).toBe(2); // 1 is not ready until done
    q.done(1);
    expect(q.len()).toBe(3);
    expect(drain(q)).toEqual([1, 3, 2]);
  });

  it("tells the priority a handle was handed out at while it is processing", () => {
    const q = new HandleQueue();
    q.add(1);
    expect(q.tryGet()).toBe(1);
    expect(q.servedPriority(1)).toBe(0); // unleveled: everything is served at 0
    q.add(2, LOW_PRIORITY);
    q.add(3, LOW_PRIORITY);
    q.add(3, HIGH_PRIORITY);
    expect(q.servedPriority(2)).toBeUndefined(); // queued, not processing
    expect(q.servedPriority(1)).toBe(0); // processing since before the queue turned leveled
    expect(q.tryGet()).toBe(3);
    expect(q.servedPriority(3)).toBe(HIGH_PRIORITY);
    q.add(3, 7); // dirty meanwhile: re-queued at 7, but it was served at HIGH
    expect(q.servedPriority(3)).toBe(HIGH_PRIORITY);
    expect(q.priorityOf(3)).toBe(7);
    expect(q.tryGet()).toBe(2);
    expect(q.servedPriority(2)).toBe(LOW_PRIORITY);
    q.done(2);
    expect(q.servedPriority(2)).toBeUndefined();
  });

  it("keeps FIFO exact when a moved handle comes back to the level it left", () => {
    const q = new HandleQueue({ maxWaitMs: Infinity });
    q.add(1, LOW_PRIORITY);
    q.add(2, LOW_PRIORITY);
    q.add(1, HIGH_PRIORITY); // leaves a stale entry at the head of LOW
    expect(q.tryGet()).toBe(1);
    q.done(1);
    q.add(3, LOW_PRIORITY);
    q.add(1, LOW_PRIORITY); // queued again at LOW: it goes behind 2 and 3
    expect(q.len()).toBe(3);
    expect(drain(q)).toEqual([2, 3, 1]);
  });

  it("turns leveled mid-stream without losing or reordering what was queued", () => {
    const q = new HandleQueue();
    q.add(1);
    q.add(2);
    expect(q.tryGet()).toBe(1);
    q.add(1); // dirty while processing, added before any priority existed
    q.add(9, LOW_PRIORITY);
    q.add(3);
    q.done(1);
    expect(q.len()).toBe(4);
    expect(drain(q)).toEqual([2, 3, 1, 9]);
  });

  it("shares the nearest lower level once 32 levels hold entries, and drops empty levels", () => {
    const q = new HandleQueue({ maxWaitMs: Infinity });
    for (let p = 1; p <= 40; p++) q.add(p, p); // level 0 plus 31 more exist after p = 31
    expect(q.len()).toBe(40);
    const levels = q.lenByPriority();
    expect(levels.size).toBe(32);
    expect(total(levels)).toBe(40);
    const order = drain(q);
    expect(new Set(order).size).toBe(40);
    // 32..40 share level 31 (the nearest one below them) and come out FIFO after 31.
    expect(order.slice(0, 10)).toEqual([31, 32, 33, 34, 35, 36, 37, 38, 39, 40]);
    expect(order.slice(10)).toEqual(Array.from({ length: 30 }, (_, i) => 30 - i));
    for (const h of order) q.done(h);
    // Every level is empty now: new priorities get levels of their own again.
    q.add(100, 500);
    q.add(101, 400);
    expect(q.priorityOf(100)).toBe(500);
    expect(q.priorityOf(101)).toBe(400);
    expect(drain(q)).toEqual([100, 101]);
  });

  it("rejects priorities that are not integers within ±1,000,000", () => {
    const q = new HandleQueue();
    for (const bad of [1.5, Number.NaN, Infinity, 1_000_001, -1_000_001, "1", null]) {
      expect(() => q.add(1, bad as number)).toThrow(InvalidArgumentError);
    }
    expect(() => q.add(1, 0.5)).toThrow(/HandleQueue.add: priority must be an integer in -1000000..1000000, got 0.5/);
    q.add(1, 1_000_000);
    q.add(2, -1_000_000);
    expect(drain(q)).toEqual([1, 2]);
  });

  it("rejects bad options", () => {
    expect(() => new HandleQueue({ maxWaitMs: -1 })).toThrow(/HandleQueue.options.maxWaitMs/);
    expect(() => new HandleQueue({ maxWaitMs: Number.NaN })).toThrow(/HandleQueue.options.maxWaitMs/);
    expect(() => new HandleQueue({ trackTimeInQueue: 1 as unknown as boolean })).toThrow(/HandleQueue.options.trackTimeInQueue/);
    expect(() => new HandleQueue(null as never)).toThrow(/HandleQueue.options/);
  });

  it("records enqueue times once leveled (or from the start with trackTimeInQueue)", () => {
    const clock = new FakeClock({ startMs: 100 });
    const plain = new HandleQueue({ clock });
    plain.add(1);
    expect(plain.enqueuedAt(1)).toBeNaN(); // no clock read on the default path
    clock.step(5);
    plain.add(2, HIGH_PRIORITY);
    // Queued before the queue turned leveled: counts as ready from then on.
    expect(plain.enqueuedAt(1)).toBe(105);

    const q = new HandleQueue({ trackTimeInQueue: true, clock });
    q.add(7);
    expect(q.enqueuedAt(7)).toBe(105);
    clock.step(3);
    q.add(7, HIGH_PRIORITY); // moving up keeps the time it became ready
    expect(q.enqueuedAt(7)).toBe(105);
    expect(q.tryGet()).toBe(7);
    expect(q.enqueuedAt(7)).toBe(105); // still readable while processing
    q.add(7);
    clock.step(2);
    q.done(7); // re-queued: ready again as of the done
    expect(q.enqueuedAt(7)).toBe(110);
    expect(q.tryGet()).toBe(7);
    q.done(7);
    expect(q.enqueuedAt(7)).toBeNaN(); // idle
  });

  it("ages: a low-priority handle is served once overdue while high ones keep arriving", () => {
    const maxWaitMs = 20;
    const clock = new FakeClock();
    const q = new HandleQueue({ maxWaitMs, clock });
    let next = 1000;
    q.add(next++, HIGH_PRIORITY);
    q.add(next++, HIGH_PRIORITY);
    const low = 1;
    const t0 = clock.now();
    q.add(low, LOW_PRIORITY);
    let servedAt = Number.NaN;
    let highWaiting = -1;
    for (let i = 0; i < 1000; i++) {
      clock.step(0.25); // each handle takes 0.25 ms of "work"
      q.add(next++, HIGH_PRIORITY); // one in per one out: HIGH never empties
      const h = q.tryGet();
      if (h === low) {
        servedAt = clock.now();
        highWaiting = q.lenByPriority().get(HIGH_PRIORITY) ?? 0;
        break;
      }
      expect(h).toBeGreaterThanOrEqual(1000);
      q.done(h);
    }
    expect(servedAt).not.toBeNaN();
    expect(highWaiting).toBeGreaterThan(0); // it was served by aging, not for lack of work
    expect(servedAt - t0).toBeGreaterThan(maxWaitMs); // and not before it was overdue
    expect(servedAt - t0).toBeLessThanOrEqual(maxWaitMs + 0.25); // but as soon as it was
    expect(q.len()).toBe(highWaiting);
  });

  it("ages overdue handles oldest first, across levels", () => {
    const clock = new FakeClock();
    const q = new HandleQueue({ maxWaitMs: 5, clock });
    q.add(1, LOW_PRIORITY);
    clock.step(1);
    q.add(2, -50);
    clock.step(1);
    q.add(3, LOW_PRIORITY);
    clock.step(7); // all three are overdue now
    for (let i = 0; i < 4; i++) q.add(100 + i, HIGH_PRIORITY);
    expect(drain(q)).toEqual([1, 2, 3, 100, 101, 102, 103]);
  });

  it("a handle that moved up still ages from when it became ready", () => {
    const clock = new FakeClock();
    const q = new HandleQueue({ maxWaitMs: 15, clock });
    let next = 1000;
    q.add(next++, HIGH_PRIORITY);
    q.add(1, LOW_PRIORITY);
    clock.step(3);
    for (const h of [2, 3, 4]) q.add(h); // younger than 1, at level 0
    q.add(1); // 1 moves up behind them
    const served: number[] = [];
    for (let i = 0; i < 1000 && served.length < 4; i++) {
      clock.step(0.5);
      q.add(next++, HIGH_PRIORITY);
      const h = q.tryGet();
      if (h < 1000) served.push(h);
      else q.done(h);
    }
    // 1 was overdue first: served ahead of 2..4 though it sits behind them at level 0.
    expect(served).toEqual([1, 2, 3, 4]);
  });

  it("strict priority with maxWaitMs: Infinity", () => {
    const clock = new FakeClock();
    const q = new HandleQueue({ maxWaitMs: Infinity, clock });
    q.add(1, LOW_PRIORITY);
    clock.step(2);
    q.add(2);
    expect(drain(q)).toEqual([2, 1]);
  });

  it("wakes waiting get() calls with the highest priority ready", async () => {
    const q = new HandleQueue();
    const a = q.get();
    q.add(1, LOW_PRIORITY);
    q.add(2, HIGH_PRIORITY);
    expect(await a).toBe(2); // handed out a microtask after the adds
    expect(q.tryGet()).toBe(1);
  });

  it("shuts down, drains and goes idle the same way when leveled", async () => {
    const q = new HandleQueue({ trackTimeInQueue: true });
    await q.whenIdle();
    q.add(1, LOW_PRIORITY);
    q.add(2, HIGH_PRIORITY);
    expect(q.tryGet()).toBe(2);
    q.add(2); // dirty while processing
    let idle = false;
    const w = q.whenIdle().then(() => {
      idle = true;
    });
    const drained = q.shutDownWithDrain();
    expect(q.add(3, HIGH_PRIORITY)).toBe(false);
    expect(() => q.add(3, 0.5)).toThrow(InvalidArgumentError); // bad input is still an error
    expect(await q.get()).toBe(1);
    const next = q.get(); // draining: 2 comes back on done, so this must not resolve undefined
    q.done(2);
    expect(await next).toBe(2);
    expect(await q.get()).toBeUndefined();
    q.done(1);
    await Promise.resolve();
    expect(idle).toBe(false);
    q.done(2);
    await w;
    await drained;
    expect(q.len()).toBe(0);
  });

  it("never hands a handle out twice at once with racing prioritized adds and 4 consumers", async () => {
    const q = new HandleQueue({ maxWaitMs: 1 });
    const keys = 50;
    const priorities = [LOW_PRIORITY, 0, HIGH_PRIORITY];
    const inFlight = new Set<number>();
    const seen = new Set<number>();
    let violations = 0;
    let runs = 0;
    const producer = async () => {
      for (let i = 0; i < 1000; i++) {
        q.add(i % keys, priorities[i % 3]);
        if (i % 7 === 0) await Promise.resolve();
      }
    };
    const consumer = async (id: number) => {
      for (;;) {
        const h = await q.get();
        if (h === undefined) return;
        if (inFlight.has(h)) violations++;
        inFlight.add(h);
        seen.add(h);
        runs++;
        await Promise.resolve();
        q.add((h + id + 1) % keys, priorities[(h + runs) % 3]);
        await new Promise<void>((r) => setImmediate(r));
        q.add(h, priorities[runs % 3]);
        inFlight.delete(h);
        q.done(h);
        if (runs >= 2000) q.shutDown();
      }
    };
    const consumers = Promise.all([0, 1, 2, 3].map(consumer));
    await producer();
    await consumers;
    await q.drained();
    expect(violations).toBe(0);
    expect(seen.size).toBe(keys);
    expect(q.processing()).toBe(0);
    expect(q.len()).toBe(0);
    expect(total(q.lenByPriority())).toBe(0);
  });

  it("matches a reference model under random adds, gets and dones (aging off and not yet due)", () => {
    for (const maxWaitMs of [Infinity, 1e9]) {
      const q = new HandleQueue({ maxWaitMs });
      const priorities = [LOW_PRIORITY, -1, 0, 0, 0, 3, HIGH_PRIORITY];
      type State = { queued?: { p: number; seq: number }; processing: boolean; pending?: number };
      const model = new Map<number, State>();
      const state = (h: number): State => {
        let s = model.get(h);
        if (s === undefined) model.set(h, (s = { processing: false }));
        return s;
      };
      let seq = 0;
      let rnd = 12345;
      const random = (n: number) => {
        rnd = (rnd * 1103515245 + 12345) & 0x7fffffff;
        return rnd % n;
      };
      const processing: number[] = [];
      for (let step = 0; step < 8_000; step++) {
        const op = random(10);
        if (op < 5) {
          const h = random(60);
          const p = priorities[random(priorities.length)];
          const s = state(h);
          let want: boolean;
          if (s.queued !== undefined) {
            want = p > s.queued.p;
            if (want) s.queued = { p, seq: seq++ };
          } else if (s.processing) {
            want = s.pending === undefined || p > s.pending;
            if (want) s.pending = p;
          } else {
            want = true;
            s.queued = { p, seq: seq++ };
          }
          expect(q.add(h, p)).toBe(want);
        } else if (op < 8) {
          let best = -1;
          let bp = 0;
          let bs = 0;
          for (const [h, s] of model) {
            if (s.queued === undefined) continue;
            if (best < 0 || s.queued.p > bp || (s.queued.p === bp && s.queued.seq < bs)) {
              best = h;
              bp = s.queued.p;
              bs = s.queued.seq;
            }
          }
          const got = q.tryGet();
          expect(got).toBe(best);
          if (best >= 0) {
            const s = state(best);
            s.queued = undefined;
            s.processing = true;
            processing.push(best);
          }
        } else if (processing.length > 0) {
          const h = processing.splice(random(processing.length), 1)[0];
          const s = state(h);
          s.processing = false;
          if (s.pending !== undefined) {
            s.queued = { p: s.pending, seq: seq++ };
            s.pending = undefined;
          }
          q.done(h);
        }
        let ready = 0;
        for (const s of model.values()) if (s.queued !== undefined) ready++;
        expect(q.len()).toBe(ready);
        if (step % 97 === 0) {
          expect(total(q.lenByPriority())).toBe(ready);
          for (const [h, s] of model) expect(q.priorityOf(h)).toBe(s.queued?.p ?? s.pending);
        }
        expect(q.processing()).toBe(processing.length);
      }
    }
  });

  it("once a handle is overdue, only handles ready no later than it are served first (random moves and re-queues)", () => {
    const maxWaitMs = 0.5;
    const clock = new FakeClock();
    const q = new HandleQueue({ maxWaitMs, clock });
    const priorities = [LOW_PRIORITY, 0, 7, HIGH_PRIORITY];
    let rnd = 777;
    const random = (n: number) => {
      rnd = (rnd * 1103515245 + 12345) & 0x7fffffff;
      return rnd % n;
    };
    const processing: number[] = [];
    const queued = new Set<number>();
    let served = 0;
    let overdueChecks = 0;
    for (let step = 0; step < 6_000; step++) {
      const op = random(10);
      if (op < 5) {
        const h = random(80);
        q.add(h, priorities[random(priorities.length)]);
        if (q.isQueued(h)) queued.add(h);
      } else if (op < 7) {
        const before = clock.now();
        let oldestOverdue = Infinity;
        for (const y of queued) {
          const at = q.enqueuedAt(y);
          if (before - at > maxWaitMs && at < oldestOverdue) oldestOverdue = at;
        }
        const h = q.tryGet();
        if (h < 0) {
          expect(queued.size).toBe(0);
          continue;
        }
        expect(queued.delete(h)).toBe(true);
        if (oldestOverdue !== Infinity) {
          overdueChecks++;
          expect(q.enqueuedAt(h)).toBeLessThanOrEqual(oldestOverdue);
        }
        processing.push(h);
        served++;
      } else if (processing.length > 0) {
        const h = processing.splice(random(processing.length), 1)[0];
        q.done(h);
        if (q.isQueued(h)) queued.add(h);
      }
      if (step % 5 === 0) clock.step(0.1); // lets some handles become overdue
      expect(q.len()).toBe(queued.size);
    }
    expect(served).toBeGreaterThan(500);
    expect(overdueChecks).toBeGreaterThan(50); // aging really was exercised
  });
});

describe("WorkQueue priorities", () => {
  it("add takes { priority }; addHandle takes a priority", async () => {
    const q = new WorkQueue<string>();
    q.add("a", { priority: LOW_PRIORITY });
    q.add("b");
    q.add("c", {});
    q.addHandle(q.handleOf("d"), HIGH_PRIORITY);
    q.add("a", { priority: 10 }); // moves up
    expect(q.len()).toBe(4);
    expect(q.lenByPriority()).toEqual(new Map([[HIGH_PRIORITY, 1], [10, 1], [0, 2], [LOW_PRIORITY, 0]]));
    const order = [];
    for (let i = 0; i < 4; i++) order.push(await q.get());
    expect(order).toEqual(["d", "a", "b", "c"]);
    for (const k of order) q.done(k as string);
    expect(q.processing()).toBe(0);
  });

  it("a key re-queued by done keeps the highest priority it was added with", async () => {
    const q = new WorkQueue<string>();
    q.add("a");
    expect(await q.get()).toBe("a");
    q.add("a", { priority: HIGH_PRIORITY });
    q.add("a");
    q.add("b");
    q.done("a");
    expect(await q.get()).toBe("a");
    expect(await q.get()).toBe("b");
  });

  it("validates priorities and names the method", () => {
    const q = new WorkQueue<string>();
    expect(() => q.add("a", { priority: 1.5 })).toThrow(/WorkQueue.add: priority must be an integer/);
    expect(() => q.add("a", { priority: 2_000_000 })).toThrow(InvalidArgumentError);
    expect(() => q.add("a", 5 as never)).toThrow(/WorkQueue.add: options must be an object/);
    const h = q.handleOf("a");
    expect(() => q.addHandle(h, Number.NaN)).toThrow(/WorkQueue.addHandle: priority must be an integer/);
    expect(q.len()).toBe(0);
    expect(() => new WorkQueue({ maxWaitMs: -5 })).toThrow(/WorkQueue.options.maxWaitMs/);
  });

  it("enqueuedAtHandle tells the time in queue", () => {
    const clock = new FakeClock();
    const q = new WorkQueue<string>({ trackTimeInQueue: true, clock });
    q.add("a");
    clock.step(7);
    const h = q.tryGetHandle();
    expect(h).toBe(q.handleOf("a"));
    expect(q.servedPriorityOfHandle(h)).toBe(0);
    expect(clock.now() - q.enqueuedAtHandle(h)).toBe(7);
    expect(new WorkQueue<string>().enqueuedAtHandle(0)).toBeNaN();
  });

  it("ages: a LOW key gets through a steady stream of HIGH keys via get()", async () => {
    const maxWaitMs = 20;
    const clock = new FakeClock();
    const q = new WorkQueue<string>({ maxWaitMs, clock });
    let n = 0;
    for (let i = 0; i < 3; i++) q.add(`high-${n++}`, { priority: HIGH_PRIORITY });
    const t0 = clock.now();
    q.add("low", { priority: LOW_PRIORITY });
    let lowAt = Number.NaN;
    let highWhenLowServed = -1;
    for (let i = 0; i < 1000; i++) {
      const k = (await q.get()) as string;
      if (k === "low") {
        lowAt = clock.now();
        highWhenLowServed = q.lenByPriority().get(HIGH_PRIORITY) ?? 0;
        q.done(k);
        break;
      }
      q.add(`high-${n++}`, { priority: HIGH_PRIORITY });
      clock.step(1); // a little "work"
      q.done(k);
    }
    expect(lowAt).not.toBeNaN();
    expect(highWhenLowServed).toBeGreaterThan(0);
    expect(lowAt - t0).toBeGreaterThan(maxWaitMs);
    expect(lowAt - t0).toBeLessThanOrEqual(maxWaitMs + 1);
    q.shutDown();
  });
});

describe("RateLimitedWorkQueue priorities", () => {
  // Steps a fake clock until every delayed key has fired.
  const waitDelayed = (q: RateLimitedWorkQueue<string>, clock: FakeClock) => {
    while (q.delayed() > 0) clock.step(1);
  };

  it("a delayed key keeps its priority until it fires", async () => {
    const clock = new FakeClock();
    const q = new RateLimitedWorkQueue<string>(undefined, { clock });
    q.addAfter("a", 3, { priority: HIGH_PRIORITY });
    q.addAfterHandle(q.handleOf("l"), 3, LOW_PRIORITY);
    q.add("b");
    q.add("c");
    waitDelayed(q, clock);
    expect(q.len()).toBe(4);
    expect([q.tryGetHandle(), q.tryGetHandle(), q.tryGetHandle(), q.tryGetHandle()].map((h) => q.keyOf(h))).toEqual(["a", "b", "c", "l"]);
    q.shutDown();
  });

  it("coalesced delays keep the earliest due time and the highest priority", async () => {
    const clock = new FakeClock();
    const q = new RateLimitedWorkQueue<string>(undefined, { clock });
    q.addAfter("a", 60, { priority: HIGH_PRIORITY });
    q.addAfter("a", 5, { priority: LOW_PRIORITY });
    q.addAfter("b", 5);
    q.addAfter("b", 60, { priority: 7 });
    q.add("c");
    expect(q.delayed()).toBe(2);
    clock.step(5); // both fire once, at 5 ms
    expect(q.delayed()).toBe(0);
    expect(await q.get()).toBe("a");
    expect(await q.get()).toBe("b");
    expect(await q.get()).toBe("c");
    q.shutDown();
  });

  it("a plain add that supersedes a delayed one takes the higher priority", async () => {
    const q = new RateLimitedWorkQueue<string>();
    q.add("z");
    q.addAfter("k", 30, { priority: HIGH_PRIORITY });
    q.add("k");
    expect(q.delayed()).toBe(0);
    expect(await q.get()).toBe("k");
    expect(await q.get()).toBe("z");
    q.addAfter("m", 30, { priority: LOW_PRIORITY });
    q.add("m", { priority: 3 });
    q.add("y");
    expect(await q.get()).toBe("m");
    q.shutDown();
  });

  it("addRateLimited takes a priority; a reused handle does not inherit an old one", async () => {
    const clock = new FakeClock();
    const q = new RateLimitedWorkQueue<string>(new ExponentialBackoffRateLimiter<string>(2, 100), { clock });
    q.addRateLimited("a", { priority: HIGH_PRIORITY });
    q.add("b");
    waitDelayed(q, clock);
    expect(await q.get()).toBe("a");
    const ha = q.handleOf("a");
    expect(await q.get()).toBe("b");
    q.done("a");
    q.done("b");
    // "a" went idle and its handle is released; a new key may get it.
    q.release("a");
    q.release("b");
    q.add("w");
    q.addAfter("y", 2);
    waitDelayed(q, clock);
    expect(q.handleOf("y") === ha || q.handleOf("w") === ha).toBe(true);
    expect(await q.get()).toBe("w");
    expect(await q.get()).toBe("y");
    q.shutDown();
  });

  it("validates priorities of delayed adds", () => {
    const q = new RateLimitedWorkQueue<string>();
    expect(() => q.addAfter("a", 5, { priority: 0.5 })).toThrow(/RateLimitedWorkQueue.addAfter: priority must be an integer/);
    expect(() => q.addRateLimited("a", { priority: -Infinity })).toThrow(/RateLimitedWorkQueue.addRateLimited: priority/);
    expect(() => q.addAfterHandle(q.handleOf("a"), 5, 3e6)).toThrow(/RateLimitedWorkQueue.addAfterHandle: priority/);
    expect(q.delayed()).toBe(0);
    expect(q.numRequeues("a")).toBe(0); // a rejected addRateLimited asked the limiter nothing
    q.shutDown();
  });
});
