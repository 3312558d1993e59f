import { afterEach, describe, expect, it, vi } from "vitest";
import { MAX_TIMER_MS } from "../../src/queue/clock.js";
import { DelayScheduler } from "../../src/queue/delay-scheduler.js";
import { InvalidArgumentError } from "../../src/queue/errors.js";
import { FakeClock } from "../../src/queue/fake-clock.js";

/** A scheduler on a fake clock that records each fire and the clock time it fired at. */
function fakeRecorder(options: { earlyByMs?: number; startMs?: number } = {}) {
  const clock = new FakeClock(options);
  const fired: { h: number; at: number }[] = [];
  const s = new DelayScheduler((h) => fired.push({ h, at: clock.now() }), { clock });
  return { s, clock, fired };
}

/** A scheduler on the real clock that resolves `until(n)` once n fired. */
function realRecorder() {
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

afterEach(() => {
  vi.restoreAllMocks();
});

describe("DelayScheduler on a fake clock", () => {
  it("never fires early, even when its timer runs up to 1.7 ms early", () => {
    const { s, clock, fired } = fakeRecorder({ earlyByMs: 1.7 });
    const due = new Map<number, number>();
    for (let h = 0; h < 500; h++) {
      const at = 0.3 + ((h * 37.77) % 50);
      due.set(h, at);
      s.schedule(h, at);
    }
    clock.step(100);
    expect(fired).toHaveLength(500);
    expect(new Set(fired.map((f) => f.h)).size).toBe(500); // each exactly once
    expect(fired.filter((f) => f.at < (due.get(f.h) as number))).toEqual([]);
    // An early wake-up re-arms for the rest of the wait, so none is much late either.
    expect(Math.max(...fired.map((f) => f.at - (due.get(f.h) as number)))).toBeLessThan(2);
  });

  it("fires each key (under 2 s ahead) at the first whole millisecond at or after its due time, in due order", () => {
    const { s, clock, fired } = fakeRecorder();
    const dues = [9.5, 3.25, 7, 1.75, 5.5, 2, 8.125, 4.9, 6.01, 0.5];
    dues.forEach((d, h) => s.schedule(h, d));
    clock.step(20);
    expect(fired.map((f) => f.h)).toEqual([...dues.keys()].sort((a, b) => dues[a] - dues[b]));
    for (const f of fired) expect(f.at).toBe(Math.ceil(dues[f.h]));
  });

  it("coalesces keys due within the same millisecond into one wake-up", () => {
    const { s, clock, fired } = fakeRecorder();
    s.schedule(1, 10.1);
    s.schedule(2, 10.5);
    s.schedule(3, 10.9);
    s.schedule(4, 11.2);
    clock.step(10.95);
    expect(fired).toEqual([]);
    clock.step(0.05);
    expect(fired.map((f) => f.h)).toEqual([1, 2, 3]);
    clock.step(1);
    expect(fired.map((f) => f.h)).toEqual([1, 2, 3, 4]);
    expect(clock.firedCount()).toBe(2); // one wake-up per millisecond with keys due, none in between
  });

  it("gives a key scheduled 2 s or more ahead 0.1% of its delay as slack, so the keys due just after it share its wake-up", () => {
    const { s, clock, fired } = fakeRecorder();
    s.schedule(1, 10_000.2); // 10 s ahead: 10 ms of slack, may fire at 10,011
    s.schedule(2, 10_009.5);
    s.schedule(3, 10_020); // its own slack: fires at ceil(10,030.02)
    s.schedule(4, 5.2); // 5 ms ahead: no slack
    s.schedule(5, 1_000_000); // slack is at most 100 ms
    clock.step(6);
    expect(fired).toEqual([{ h: 4, at: 6 }]);
    clock.step(2_000_000);
    expect(fired.slice(1)).toEqual([
      { h: 1, at: 10_011 },
      { h: 2, at: 10_011 },
      { h: 3, at: 10_031 },
      { h: 5, at: 1_000_100 },
    ]);
    expect(clock.firedCount()).toBe(4);
  });

  it("never lets another key's slack make a key with less slack late", () => {
    const { s, clock, fired } = fakeRecorder();
    s.schedule(1, 10_000.2); // 10 ms of slack
    s.schedule(2, 10_009.5); // 10 ms of slack
    clock.step(9_000);
    s.schedule(3, 10_000.5); // 1 s ahead: no slack, behind the head
    clock.step(2_000);
    expect(fired).toEqual([
      { h: 1, at: 10_001 }, // due by then: shares the wake-up key 3 needs
      { h: 3, at: 10_001 },
      { h: 2, at: 10_020 }, // the next wake-up aims at its own slack: ceil(10,009.5 + 10.0095)
    ]);
  });

  it("steady state: a fixed periodic schedule wakes it fewer times per second than keys fall due, none early or empty", () => {
    // 300 keys, each re-armed from its own fire callback on a fixed fractional period of 2..32 s.
    const keys = 300;
    const period = (h: number) => 2000 + ((h * 7919.37) % 30000);
    const clock = new FakeClock();
    const due = new Float64Array(keys);
    let fires = 0;
    let emptyWakes = 0;
    const lateness: number[] = [];
    const overSlack: number[] = []; // lateness beyond slack + 1 ms (none)
    const s = new DelayScheduler(
      (h) => {
        fires++;
        lateness.push(clock.now() - due[h]);
        if (clock.now() - due[h] > Math.min(100, period(h) * 0.001) + 1) overSlack.push(h);
        due[h] = clock.now() + period(h);
        s.schedule(h, due[h]);
      },
      { clock },
    );
    for (let h = 0; h < keys; h++) s.schedule(h, (due[h] = period(h)));
    clock.step(60_000); // past every key's first period: steady state
    const wakes0 = clock.firedCount();
    const fires0 = fires;
    const dueTicks = new Set<number>(); // distinct milliseconds keys fell due in
    for (let t = 60_000; t < 120_000; t++) {
      for (let h = 0; h < keys; h++) if (due[h] > t && due[h] <= t + 1) dueTicks.add(t + 1);
      const [firesBefore, wakesBefore] = [fires, clock.firedCount()];
      clock.step(1); // at most one wake-up per ms: a timer is armed for at least 1 ms
      if (clock.firedCount() > wakesBefore && fires === firesBefore) emptyWakes++;
    }
    const wakes = clock.firedCount() - wakes0;
    const wakesPerSecond = wakes / 60;
    const firesPerSecond = (fires - fires0) / 60;
    expect(firesPerSecond).toBeGreaterThan(10); // the schedule is busy enough to coalesce
    expect(emptyWakes).toBe(0);
    expect(fires - fires0).toBeGreaterThan(dueTicks.size); // some milliseconds have several keys due
    expect(wakes).toBeLessThanOrEqual(dueTicks.size); // at most one wake-up per millisecond with keys due
    expect(wakesPerSecond).toBeLessThan(firesPerSecond);
    expect(Math.min(...lateness)).toBeGreaterThanOrEqual(0);
    expect(overSlack).toEqual([]);
    expect(s.size).toBe(keys);
  });

  it("a key re-armed inside its own fire callback fires again at its new time", () => {
    const clock = new FakeClock();
    const fired: number[] = [];
    const s = new DelayScheduler(
      (h) => {
        fired.push(clock.now());
        if (fired.length < 3) s.schedule(h, clock.now() + 10);
      },
      { clock },
    );
    s.schedule(7, 5);
    clock.step(100);
    expect(fired).toEqual([5, 15, 25]);
    expect(s.size).toBe(0);
    expect(clock.pending()).toBe(0); // disarmed when empty: an idle process can exit
  });

  it("an entry onFire schedules in the past waits for the next wake-up instead of looping", () => {
    const clock = new FakeClock();
    let count = 0;
    const s = new DelayScheduler(
      (h) => {
        if (++count < 5) s.schedule(h, clock.now() - 1);
      },
      { clock },
    );
    s.schedule(0, 0);
    clock.step(0);
    expect(count).toBe(5);
    expect(clock.firedCount()).toBe(5); // one fire per wake-up
  });

  it("keeps the earliest due time per handle", () => {
    const { s, clock, fired } = fakeRecorder();
    s.schedule(1, 60);
    s.schedule(1, 5); // earlier: moves up
    s.schedule(1, 90); // later: ignored
    expect(s.dueAt(1)).toBe(5);
    expect(s.size).toBe(1);
    clock.step(200);
    expect(fired).toEqual([{ h: 1, at: 5 }]); // once: nothing left at 60 or 90
    expect(Number.isNaN(s.dueAt(1))).toBe(true);
  });

  it("keeps heap order under random schedules, decrease-keys and cancels", () => {
    const { s, clock, fired } = fakeRecorder({ startMs: 1000 });
    const due = new Map<number, number>();
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 3000; i++) {
      const h = Math.floor(rnd() * 600);
      if (rnd() < 0.15) {
        expect(s.cancel(h)).toBe(due.delete(h));
      } else {
        const d = rnd() * 900; // all in the past: they fire on the next wake-up
        s.schedule(h, d);
        due.set(h, Math.min(due.get(h) ?? Infinity, d));
      }
      expect(s.size).toBe(due.size);
    }
    expect(s.nextDueAt()).toBe(Math.min(...due.values()));
    for (const [h, d] of due) expect(s.dueAt(h)).toBe(d);
    clock.step(0);
    expect(fired.map((f) => f.h)).toEqual([...due.entries()].sort((a, b) => a[1] - b[1]).map(([h]) => h));
    expect(clock.firedCount()).toBe(1);
  });

  it("cancel removes an entry so it never fires; cancelling the last one disarms the timer", () => {
    const { s, clock, fired } = fakeRecorder();
    s.schedule(1, 2);
    s.schedule(2, 10);
    expect(s.cancel(1)).toBe(true);
    expect(s.cancel(1)).toBe(false);
    expect(s.cancel(999_999)).toBe(false);
    clock.step(20);
    expect(fired.map((f) => f.h)).toEqual([2]);
    s.schedule(3, 30);
    expect(clock.pending()).toBe(1);
    s.cancel(3);
    expect(clock.pending()).toBe(0);
  });

  it("close drops entries and the timer; later schedules are ignored", () => {
    const { s, clock, fired } = fakeRecorder();
    s.schedule(1, 1);
    s.schedule(2, 0);
    s.close();
    expect(s.size).toBe(0);
    expect(s.has(1)).toBe(false);
    expect(clock.pending()).toBe(0);
    s.schedule(3, 0);
    expect(s.size).toBe(0);
    clock.step(10);
    expect(fired).toEqual([]);
    expect(Number.isNaN(s.nextDueAt())).toBe(true);
  });

  it("arms one timer, re-armed only when the earliest due time moves earlier", () => {
    const { s, clock } = fakeRecorder();
    s.schedule(0, 500);
    for (let h = 1; h < 100; h++) s.schedule(h, 500 + h);
    expect(clock.requestedDelays()).toEqual([500]);
    s.schedule(100, 400); // new earliest
    expect(clock.requestedDelays()).toEqual([500, 400]);
    s.schedule(0, 450); // earlier for its handle, not the earliest overall
    expect(clock.requestedDelays()).toHaveLength(2);
    expect(clock.pending()).toBe(1);
  });

  it("waits out delays longer than a timer can take (30 days) in timer-sized steps, never early", () => {
    const { s, clock, fired } = fakeRecorder();
    const day = 86_400_000;
    s.schedule(1, 30 * day + 0.5);
    s.schedule(2, 60 * day);
    clock.step(61 * day);
    expect(fired).toEqual([
      { h: 1, at: 30 * day + 101 }, // 100 ms of slack (the most): it was 30 days ahead
      { h: 2, at: 60 * day + 100 },
    ]);
    expect(Math.max(...clock.requestedDelays())).toBe(MAX_TIMER_MS);
    // ceil(30 days / MAX) + ceil(30 days / MAX) wake-ups, nothing like one per millisecond.
    expect(clock.firedCount()).toBe(4);
  });

  it("an onFire error neither stops other fires nor the scheduler", () => {
    const clock = new FakeClock();
    const errors: [unknown, number][] = [];
    const fired: number[] = [];
    const s = new DelayScheduler(
      (h) => {
        fired.push(h);
        if (h === 1) throw new Error("boom");
      },
      { onError: (e, h) => errors.push([e, h]), clock },
    );
    s.schedule(1, 0);
    s.schedule(2, 0);
    s.schedule(3, 3);
    clock.step(5);
    expect(fired).toEqual([1, 2, 3]);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.[1]).toBe(1);
    expect((errors[0]?.[0] as Error).message).toBe("boom");
  });

  it("rejects bad handles, due times and clocks", () => {
    const s = new DelayScheduler(() => {});
    expect(() => s.schedule(-1, 0)).toThrow(InvalidArgumentError);
    expect(() => s.schedule(1, Number.NaN)).toThrow(/dueAt must be a finite number/);
    expect(() => s.schedule(1, Infinity)).toThrow(InvalidArgumentError);
    expect(() => new DelayScheduler(undefined as unknown as () => void)).toThrow(/DelayScheduler.onFire/);
    expect(() => new DelayScheduler(() => {}, { clock: { now: () => 0 } as unknown as FakeClock })).toThrow(
      /DelayScheduler.options.clock: must be a clock with now and afterFunc methods/,
    );
  });
});

describe("DelayScheduler on the real clock", () => {
  it("never fires early: 200 keys with fractional delays 1..50 ms", async () => {
    const { s, fired, until } = realRecorder();
    const due = new Map<number, number>();
    const start = performance.now();
    for (let h = 0; h < 200; h++) {
      const at = start + 1 + ((h * 37.37) % 50);
      due.set(h, at);
      s.schedule(h, at);
    }
    await until(200);
    expect(new Set(fired.map((f) => f.h)).size).toBe(200);
    expect(fired.filter((f) => f.at < (due.get(f.h) as number))).toEqual([]);
    expect(s.size).toBe(0);
  });

  it("sleeps on one setTimeout, never setImmediate", async () => {
    const timeouts = vi.spyOn(globalThis, "setTimeout");
    const immediates = vi.spyOn(globalThis, "setImmediate");
    const { s, until } = realRecorder();
    const now = performance.now();
    for (let h = 0; h < 50; h++) s.schedule(h, now + 5 + h * 0.1);
    expect(timeouts).toHaveBeenCalledTimes(1);
    await until(50);
    expect(immediates).not.toHaveBeenCalled();
  });

  it("unref and ref keep working entries firing", async () => {
    const { s, until } = realRecorder();
    s.unref();
    s.schedule(1, performance.now() + 2);
    s.ref();
    await until(1);
  });
});
