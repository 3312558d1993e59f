import { describe, expect, it, vi, type Mock } from "vitest";
import { ValidationError } from "../../src/codec/errors.js";
import type { CloudEvent } from "../../src/events/cloud-event.js";
import { BusClosedError } from "../../src/events/errors.js";
import { InMemoryEventBus, type EventBusLogger } from "../../src/events/in-memory-event-bus.js";
import { InvalidPatternError } from "../../src/events/pattern.js";
import { event, eventBusContract, recorder } from "../contract/event-bus-contract.js";

type LogFn = (message: string, ...args: unknown[]) => void;

/** Records instead of printing: the contract's failing handlers would otherwise flood the output. */
function quietLogger(): EventBusLogger & { error: Mock<LogFn>; warn: Mock<LogFn> } {
  return { error: vi.fn<LogFn>(), warn: vi.fn<LogFn>() };
}

eventBusContract("InMemoryEventBus", async () => new InMemoryEventBus(1000, 10, { logger: quietLogger() }));

/** A promise a test opens by hand: handlers await it to stay "busy". */
function gate(): { readonly promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Lets every queued microtask (and so every ready delivery) run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function tracked<T>(promise: Promise<T>): { promise: Promise<T>; settled: boolean; error: unknown } {
  const t = { promise, settled: false, error: undefined as unknown };
  promise.then(
    () => (t.settled = true),
    (error) => {
      t.settled = true;
      t.error = error;
    },
  );
  return t;
}

describe("InMemoryEventBus", () => {
  it("makes publish wait on a full buffer and drops nothing", async () => {
    const logger = quietLogger();
    const bus = new InMemoryEventBus(4, 10, { logger });
    const release = gate();
    const rec = recorder(() => release.promise);
    await bus.subscribe("dev.*", rec.handler);
    await bus.start();

    const publishes = Array.from({ length: 50 }, (_, i) => tracked(bus.publish(event("dev.e", i))));
    await settle();
    await settle();
    expect(publishes.slice(0, 4).map((p) => p.settled)).toEqual([true, true, true, true]);
    expect(publishes.slice(4).some((p) => p.settled)).toBe(false);
    expect(rec.events).toHaveLength(1);
    expect(bus.stats().pending).toBe(4);
    expect(logger.warn).toHaveBeenCalledTimes(1);
    expect(logger.warn.mock.calls[0][1]).toMatch(/buffer is full \(4 events pending\)/);

    release.open();
    await Promise.all(publishes.map((p) => p.promise));
    await rec.count(50);
    expect(rec.events.map((e) => (e.data as { n: number }).n)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    await bus.close();
    expect(bus.stats()).toEqual({ published: 50, delivered: 50, handlerErrors: 0, pending: 0 });
  });

  it("runs at most `workers` handlers at once across subscriptions", async () => {
    const bus = new InMemoryEventBus(100, 3, { logger: quietLogger() });
    const release = gate();
    let inFlight = 0;
    let maxInFlight = 0;
    const perSub = new Map<number, number>();
    let maxPerSub = 0;
    const recs = Array.from({ length: 8 }, (_, s) =>
      recorder(async () => {
        inFlight++;
        perSub.set(s, (perSub.get(s) ?? 0) + 1);
        maxInFlight = Math.max(maxInFlight, inFlight);
        maxPerSub = Math.max(maxPerSub, perSub.get(s)!);
        await release.promise;
        perSub.set(s, perSub.get(s)! - 1);
        inFlight--;
      }),
    );
    for (const rec of recs) await bus.subscribe("w.**", rec.handler);
    await bus.start();
    await bus.publish(event("w.a", 1));
    await bus.publish(event("w.b", 2));
    await settle();
    await settle();
    expect(inFlight).toBe(3);
    expect(recs.reduce((sum, r) => sum + r.events.length, 0)).toBe(3);

    release.open();
    for (const rec of recs) await rec.count(2);
    await bus.close();
    expect(maxInFlight).toBe(3);
    expect(maxPerSub).toBe(1);
    expect(bus.stats().delivered).toBe(16);
  });

  it("keeps other subscriptions moving while one handler is blocked", async () => {
    const bus = new InMemoryEventBus(100, 10, { logger: quietLogger() });
    const release = gate();
    const blocked = recorder(() => release.promise);
    const free = recorder();
    await bus.subscribe("k.*", blocked.handler);
    await bus.subscribe("k.*", free.handler);
    await bus.start();
    for (let i = 0; i < 10; i++) await bus.publish(event("k.e", i));
    await free.count(10);
    expect(blocked.events).toHaveLength(1);
    release.open();
    await blocked.count(10);
    await bus.close();
  });

  it("finishes a subscription's async handler before giving it the next event", async () => {
    const bus = new InMemoryEventBus(100, 10, { logger: quietLogger() });
    let active = 0;
    let overlap = false;
    const rec = recorder(async (_e, i) => {
      active++;
      if (active > 1) overlap = true;
      for (let k = 0; k < (i % 3) + 1; k++) await settle();
      active--;
    });
    await bus.subscribe("o.*", rec.handler);
    await bus.start();
    for (let i = 0; i < 20; i++) await bus.publish(event("o.e", i));
    await rec.count(20);
    await bus.close();
    expect(overlap).toBe(false);
  });

  it("rejects an aborted waiting publish with the signal's reason and accepts nothing of it", async () => {
    const bus = new InMemoryEventBus(1, 10, { logger: quietLogger() });
    const release = gate();
    const rec = recorder(() => release.promise);
    await bus.subscribe("s.*", rec.handler);
    await bus.start();
    const first = event("s.first", 1);
    await bus.publish(first);

    const controller = new AbortController();
    const aborted = tracked(bus.publish(event("s.aborted", 2), { signal: controller.signal }));
    const after = event("s.after", 3);
    const queued = tracked(bus.publish(after));
    await settle();
    expect(aborted.settled).toBe(false);

    const reason = new Error("caller gave up");
    controller.abort(reason);
    await expect(aborted.promise).rejects.toBe(reason);
    expect(queued.settled).toBe(false);

    release.open();
    await queued.promise;
    await rec.count(2);
    await bus.close();
    expect(rec.ids()).toEqual([first.id, after.id]);
    expect(bus.stats().published).toBe(2);
  });

  it("keeps call order among waiting publishes when many of them are aborted", async () => {
    const bus = new InMemoryEventBus(1, 10, { logger: quietLogger() });
    const release = gate();
    const rec = recorder(() => release.promise);
    await bus.subscribe("q.*", rec.handler);
    await bus.start();
    await bus.publish(event("q.e", -1));
    const controllers = Array.from({ length: 200 }, () => new AbortController());
    const publishes = controllers.map((c, i) => tracked(bus.publish(event("q.e", i), { signal: c.signal })));
    controllers.forEach((c, i) => {
      if (i % 5 !== 0) c.abort(new Error(`abort ${i}`));
    });
    await settle();
    expect(publishes.filter((p) => p.error !== undefined)).toHaveLength(160);
    release.open();
    await rec.count(41);
    await Promise.all(publishes.filter((_, i) => i % 5 === 0).map((p) => p.promise));
    await bus.close();
    const kept = Array.from({ length: 200 }, (_, i) => i).filter((i) => i % 5 === 0);
    expect(rec.events.map((e) => (e.data as { n: number }).n)).toEqual([-1, ...kept]);
  });

  it("rejects a publish whose signal is already aborted, even with space", async () => {
    const bus = new InMemoryEventBus(10, 10, { logger: quietLogger() });
    const rec = recorder();
    await bus.subscribe("**", rec.handler);
    await bus.start();
    const reason = new Error("too late");
    await expect(bus.publish(event("a.b"), { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    const sentinel = event("a.c");
    await bus.publish(sentinel);
    await rec.count(1);
    expect(rec.ids()).toEqual([sentinel.id]);
    expect(bus.stats().published).toBe(1);
    await bus.close();
  });

  it("does not replay events published before a subscription existed", async () => {
    const bus = new InMemoryEventBus(10, 10, { logger: quietLogger() });
    await bus.start();
    await bus.publish(event("r.early", 1));
    const rec = recorder();
    await bus.subscribe("r.*", rec.handler);
    const late = event("r.late", 2);
    await bus.publish(late);
    await rec.count(1);
    expect(rec.ids()).toEqual([late.id]);
    await bus.close();
  });

  it("buffers publishes before start, waits when that buffer fills, and start is idempotent", async () => {
    const bus = new InMemoryEventBus(2, 10, { logger: quietLogger() });
    const rec = recorder();
    await bus.subscribe("b.*", rec.handler);
    const publishes = [0, 1, 2].map((i) => tracked(bus.publish(event("b.e", i))));
    await settle();
    expect(publishes.map((p) => p.settled)).toEqual([true, true, false]);
    expect(rec.events).toHaveLength(0);

    await bus.start();
    await bus.start();
    await publishes[2].promise;
    await rec.count(3);
    await settle();
    expect(rec.events.map((e) => (e.data as { n: number }).n)).toEqual([0, 1, 2]);
    await bus.close();
  });

  it("logs a failing handler with its pattern, the event id and type, and the error", async () => {
    const logger = quietLogger();
    const bus = new InMemoryEventBus(10, 10, { logger });
    const boom = new Error("boom");
    const rec = recorder(async () => {
      throw boom;
    });
    await bus.subscribe("l.**", rec.handler);
    await bus.start();
    const e = event("l.failed", 1);
    await bus.publish(e);
    await bus.close();
    expect(logger.error).toHaveBeenCalledTimes(1);
    const [fields, message] = logger.error.mock.calls[0];
    expect(message).toContain('"l.**"');
    expect(fields).toMatchObject({ pattern: "l.**", eventId: e.id, eventType: "l.failed", err: boom });
    expect(bus.stats()).toMatchObject({ delivered: 1, handlerErrors: 1, pending: 0 });
  });

  it("keeps delivering when the logger itself throws", async () => {
    const logger = {
      error: () => {
        throw new Error("logger down");
      },
      warn: () => {},
    };
    const bus = new InMemoryEventBus(10, 10, { logger });
    const rec = recorder((e) => {
      if (e.type === "t.bad") throw new Error("handler failed");
    });
    await bus.subscribe("t.*", rec.handler);
    await bus.start();
    await bus.publish(event("t.bad"));
    await bus.publish(event("t.good"));
    await rec.count(2);
    await bus.close();
    expect(bus.stats()).toMatchObject({ delivered: 2, handlerErrors: 1, pending: 0 });
  });

  it("unsubscribe waits for the delivery in progress and drops the subscription's queued events", async () => {
    const bus = new InMemoryEventBus(10, 10, { logger: quietLogger() });
    const release = gate();
    const rec = recorder(() => release.promise);
    const sub = await bus.subscribe("u.*", rec.handler);
    await bus.start();
    for (let i = 0; i < 3; i++) await bus.publish(event("u.e", i));
    await rec.count(1);

    const leaving = tracked(sub.unsubscribe());
    await settle();
    expect(leaving.settled).toBe(false);
    expect(bus.stats().pending).toBe(1);

    release.open();
    await leaving.promise;
    await settle();
    expect(rec.events).toHaveLength(1);
    expect(bus.stats().pending).toBe(0);
    // Unsubscribing again, through either door, is a no-op.
    await sub.unsubscribe();
    await bus.unsubscribe(sub.id);
    await bus.close();
  });

  it("unsubscribe(id) on the bus removes that subscription only", async () => {
    const bus = new InMemoryEventBus(10, 10, { logger: quietLogger() });
    const gone = recorder();
    const kept = recorder();
    const sub = await bus.subscribe("i.*", gone.handler);
    await bus.subscribe("i.*", kept.handler);
    await bus.start();
    await bus.unsubscribe(sub.id);
    await bus.unsubscribe("no-such-subscription");
    const e = event("i.e");
    await bus.publish(e);
    await kept.count(1);
    expect(gone.events).toEqual([]);
    await bus.close();
  });

  it("delivers to subscribers an event a handler publishes", async () => {
    const bus = new InMemoryEventBus(10, 2, { logger: quietLogger() });
    const downstream = recorder();
    const upstream = recorder(async (e) => {
      await bus.publish(event(`down.${e.type.split(".")[1]}`));
    });
    await bus.subscribe("up.*", upstream.handler);
    await bus.subscribe("down.*", downstream.handler);
    await bus.start();
    await bus.publish(event("up.a"));
    await bus.publish(event("up.b"));
    await downstream.count(2);
    expect(downstream.types()).toEqual(["down.a", "down.b"]);
    await bus.close();
  });

  it("lets timers run while a handler keeps publishing to itself", async () => {
    const bus = new InMemoryEventBus(10, 10, { logger: quietLogger() });
    let stop = false;
    let handled = 0;
    await bus.subscribe("loop.*", async () => {
      handled++;
      if (!stop) await bus.publish(event("loop.again"));
    });
    await bus.start();
    await bus.publish(event("loop.first"));
    // Reached only if the delivery chain yields to the event loop.
    await new Promise((resolve) => setTimeout(resolve, 0));
    stop = true;
    await bus.close();
    expect(handled).toBeGreaterThan(1);
    expect(bus.stats().pending).toBe(0);
  });

  it("hands subscribers a copy, so mutating the published object later changes nothing", async () => {
    const bus = new InMemoryEventBus(10, 10, { logger: quietLogger() });
    const release = gate();
    const rec = recorder(() => release.promise);
    await bus.subscribe("m.*", rec.handler);
    await bus.start();
    await bus.publish(event("m.first"));
    const second = event("m.second");
    await bus.publish(second);
    second.type = "m.mutated";
    release.open();
    await rec.count(2);
    expect(rec.types()).toEqual(["m.first", "m.second"]);
    await bus.close();
  });

  it("close delivers on a never-started bus and refuses publishes still waiting for space", async () => {
    const bus = new InMemoryEventBus(2, 10, { logger: quietLogger() });
    const rec = recorder();
    await bus.subscribe("c.*", rec.handler);
    const publishes = [0, 1, 2].map((i) => tracked(bus.publish(event("c.e", i))));
    await settle();
    await bus.close();
    expect(rec.events.map((e) => (e.data as { n: number }).n)).toEqual([0, 1]);
    expect(publishes[2].error).toBeInstanceOf(BusClosedError);
    expect(bus.stats()).toMatchObject({ published: 2, delivered: 2, pending: 0 });
    await expect(bus.subscribe("c.*", rec.handler)).rejects.toBeInstanceOf(BusClosedError);
  });

  it("close waits for a handler in progress", async () => {
    const bus = new InMemoryEventBus(10, 10, { logger: quietLogger() });
    const release = gate();
    let finished = false;
    await bus.subscribe("w.*", async () => {
      await release.promise;
      finished = true;
    });
    await bus.start();
    await bus.publish(event("w.e"));
    const closing = tracked(bus.close());
    await settle();
    expect(closing.settled).toBe(false);
    await expect(bus.publish(event("w.e"))).rejects.toMatchObject({ code: "ERR_BUS_CLOSED" });
    release.open();
    await closing.promise;
    expect(finished).toBe(true);
  });

  it("Symbol.asyncDispose closes the bus", async () => {
    const bus = new InMemoryEventBus(10, 10, { logger: quietLogger() });
    await bus[Symbol.asyncDispose]();
    await expect(bus.publish(event("d.e"))).rejects.toBeInstanceOf(BusClosedError);
  });

  it("stats() returns a snapshot, not a live view", async () => {
    const bus = new InMemoryEventBus(10, 10, { logger: quietLogger() });
    const before = bus.stats();
    await bus.start();
    await bus.publish(event("s.e"));
    expect(before).toEqual({ published: 0, delivered: 0, handlerErrors: 0, pending: 0 });
    expect(bus.stats().published).toBe(1);
    await bus.close();
  });

  it("rejects bad constructor arguments, patterns and handlers with named errors", async () => {
    expect(() => new InMemoryEventBus(0)).toThrow(ValidationError);
    expect(() => new InMemoryEventBus(0)).toThrow(/bufferSize/);
    expect(() => new InMemoryEventBus(10, 1.5)).toThrow(/workers/);
    const bus = new InMemoryEventBus();
    await expect(bus.subscribe("a.**.b", () => {})).rejects.toBeInstanceOf(InvalidPatternError);
    await expect(bus.subscribe("a.b", "nope" as unknown as () => void)).rejects.toMatchObject({ path: "handler" });
    await expect(bus.publish({ type: "a.b" } as CloudEvent)).rejects.toBeInstanceOf(ValidationError);
    await bus.close();
  });
});
