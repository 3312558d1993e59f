// The EventBus promises (DESIGN.md "Events"), written once: node:test runs them
// on Node, Bun and Deno; test/contract/event-bus-contract.ts hands vitest's
// describe/it to the same function.
import assert from "node:assert/strict";
import * as nodeTest from "node:test";
import { newResourceEvent, type CloudEvent, type EventBus, type EventHandler } from "../../../src/index.js";
import { rejection, SAFETY_TIMEOUT_MS, tick } from "../harness.js";

/** Records what a subscription was handed and lets a test await it. */
export interface Recorder {
  readonly events: CloudEvent[];
  readonly handler: EventHandler;
  types(): string[];
  ids(): string[];
  /** Resolves once `predicate` holds over the events seen so far; rejects after the safety timeout. */
  until(predicate: (events: readonly CloudEvent[]) => boolean, what: string): Promise<CloudEvent[]>;
  /** Resolves once at least `n` events were seen. */
  count(n: number): Promise<CloudEvent[]>;
}

/** `onEvent` runs after the event is recorded; its throw or rejection is the handler's. */
export function recorder(onEvent?: (event: CloudEvent, index: number) => void | Promise<void>): Recorder {
  const events: CloudEvent[] = [];
  const waiters: { predicate: (events: readonly CloudEvent[]) => boolean; resolve: () => void }[] = [];
  const check = () => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (waiters[i].predicate(events)) {
        waiters[i].resolve();
        waiters.splice(i, 1);
      }
    }
  };
  const rec: Recorder = {
    events,
    handler: (event) => {
      events.push(event);
      check();
      return onEvent?.(event, events.length - 1);
    },
    types: () => events.map((e) => e.type),
    ids: () => events.map((e) => e.id),
    until(predicate, what) {
      if (predicate(events)) return Promise.resolve(events);
      return new Promise<CloudEvent[]>((resolve, reject) => {
        const waiter = {
          predicate,
          resolve: () => {
            clearTimeout(timer);
            resolve(events);
          },
        };
        const timer = setTimeout(() => {
          const i = waiters.indexOf(waiter);
          if (i >= 0) waiters.splice(i, 1);
          reject(new Error(`timed out waiting for ${what}; saw ${events.length} event(s): ${rec.types().join(", ")}`));
        }, SAFETY_TIMEOUT_MS);
        waiters.push(waiter);
      });
    },
    count: (n) => rec.until((seen) => seen.length >= n, `${n} event(s)`),
  };
  return rec;
}

let sequence = 0;
/** A fresh first token per test, so a durable backend never feeds one test another's events. */
export function uniquePrefix(): string {
  sequence++;
  return `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}x${sequence}`;
}

export function event(type: string, n = 0): CloudEvent<{ n: number }> {
  return newResourceEvent(type, "Device", `dev-${n}`, { n });
}

function expectCode(error: unknown, code: string, what: string): void {
  assert.equal((error as { code?: unknown })?.code, code, `${what}: ${String(error)}`);
}

/**
 * Registers the EventBus checks. `makeBus` returns a fresh, not necessarily
 * started bus; `teardown` (default `close()`) runs after each test, also after
 * a test that closed the bus itself.
 */
/** The four functions of a test runner the contract needs (node:test and vitest both have them). */
export interface TestApi {
  describe(name: string, fn: () => void): unknown;
  it(name: string, fn: () => Promise<void>): unknown;
  beforeEach(fn: () => Promise<void>): unknown;
  afterEach(fn: () => Promise<void>): unknown;
}

export function eventBusContract<B extends EventBus>(
  name: string,
  makeBus: () => Promise<B>,
  teardown: (bus: B) => Promise<void> = (bus) => bus.close(),
  api: TestApi = nodeTest as unknown as TestApi,
): void {
  const { describe, it, beforeEach, afterEach } = api;
  describe(`EventBus contract: ${name}`, () => {
    let bus: B;
    let p: string;

    beforeEach(async () => {
      bus = await makeBus();
      p = uniquePrefix();
    });

    afterEach(async () => {
      await teardown(bus);
    });

    it("delivers an exact pattern only the event type it names", async () => {
      const exact = recorder();
      await bus.subscribe(`${p}.device.created`, exact.handler);
      await bus.start();
      await bus.publish(event(`${p}.device.created.late`, 1));
      await bus.publish(event(`${p}.device`, 2));
      await bus.publish(event(`${p}.device.deleted`, 3));
      await bus.publish(event(`${p}.device.created`, 4));
      // Per-subscription order: anything wrongly delivered would arrive before this one.
      await exact.count(1);
      assert.deepEqual(exact.types(), [`${p}.device.created`]);
    });

    it("'*' matches exactly one token", async () => {
      const star = recorder();
      await bus.subscribe(`${p}.*.created`, star.handler);
      await bus.start();
      for (const [i, type] of [`${p}.device.created`, `${p}.created`, `${p}.device.x.created`, `${p}.device.created.x`, `${p}.node.created`].entries()) {
        await bus.publish(event(type, i));
      }
      await star.count(2);
      assert.deepEqual(star.types(), [`${p}.device.created`, `${p}.node.created`]);
    });

    it("a trailing '**' matches one or more tokens, so a.b.** does not match a.b", async () => {
      const tail = recorder();
      await bus.subscribe(`${p}.a.b.**`, tail.handler);
      await bus.start();
      for (const [i, type] of [`${p}.a.b`, `${p}.a.bc.d`, `${p}.a.b.c`, `${p}.a.x.c`, `${p}.a.b.c.d.e`].entries()) {
        await bus.publish(event(type, i));
      }
      await tail.count(2);
      assert.deepEqual(tail.types(), [`${p}.a.b.c`, `${p}.a.b.c.d.e`]);
    });

    it("'**' alone matches every event", async () => {
      const all = recorder();
      await bus.subscribe("**", all.handler);
      await bus.start();
      await bus.publish(event(p, 1));
      await bus.publish(event(`${p}.a`, 2));
      await bus.publish(event(`${p}.a.b.c.d`, 3));
      const mine = (events: readonly CloudEvent[]) => events.filter((e) => e.type === p || e.type.startsWith(`${p}.`));
      await all.until((events) => mine(events).length >= 3, "3 events of this test");
      assert.deepEqual(mine(all.events).map((e) => e.type), [p, `${p}.a`, `${p}.a.b.c.d`]);
    });

    it("delivers the event intact, with its CloudEvents attributes", async () => {
      const rec = recorder();
      await bus.subscribe(`${p}.device.*`, rec.handler);
      await bus.start();
      const sent = newResourceEvent(`${p}.device.created`, "Device", "dev-42", { name: "x", nested: { n: [1, 2] } }, {
        extensions: { traceparent: "00-abc-01" },
      });
      await bus.publish(sent);
      const [got] = await rec.count(1);
      assert.deepEqual(got, sent);
      assert.equal(got.specversion, "1.0");
      assert.equal(got.resourcekind, "Device");
      assert.equal(got.resourceuid, "dev-42");
    });

    it("hands each subscription its events in publish order", async () => {
      const n = 50;
      const fast = recorder();
      // Uneven async work per event: order must not depend on handler speed.
      const slow = recorder(async (_event, i) => {
        for (let k = 0; k < i % 4; k++) await tick();
      });
      await bus.subscribe(`${p}.order.*`, fast.handler);
      await bus.subscribe(`${p}.order.**`, slow.handler);
      await bus.start();
      const sent: string[] = [];
      for (let i = 0; i < n; i++) {
        const e = event(`${p}.order.e`, i);
        sent.push(e.id);
        await bus.publish(e);
      }
      await fast.count(n);
      await slow.count(n);
      assert.deepEqual(fast.ids(), sent);
      assert.deepEqual(slow.ids(), sent);
    });

    it("isolates a failing handler from other subscriptions and from later events", async () => {
      const throwing = recorder(() => {
        throw new Error("sync boom");
      });
      const rejecting = recorder(async () => {
        await tick();
        throw new Error("async boom");
      });
      const healthy = recorder();
      await bus.subscribe(`${p}.x.*`, throwing.handler);
      await bus.subscribe(`${p}.x.*`, rejecting.handler);
      await bus.subscribe(`${p}.x.*`, healthy.handler);
      await bus.start();
      const sent = [event(`${p}.x.a`, 1), event(`${p}.x.b`, 2), event(`${p}.x.c`, 3)];
      for (const e of sent) await bus.publish(e);
      await healthy.count(3);
      assert.deepEqual(healthy.ids(), sent.map((e) => e.id));
      // A durable backend may redeliver the failed ones: only the later event is asserted.
      const last = sent[2].id;
      await throwing.until((events) => events.some((e) => e.id === last), "the last event after failures");
      await rejecting.until((events) => events.some((e) => e.id === last), "the last event after failures");
    });

    it("stops delivering to a subscription once unsubscribe resolves", async () => {
      const leaving = recorder();
      const staying = recorder();
      const sub = await bus.subscribe(`${p}.u.*`, leaving.handler);
      await bus.subscribe(`${p}.u.*`, staying.handler);
      await bus.start();
      const first = event(`${p}.u.first`, 1);
      await bus.publish(first);
      await leaving.count(1);
      await staying.count(1);
      assert.equal(sub.pattern, `${p}.u.*`);
      assert.equal(typeof sub.id, "string");

      await sub.unsubscribe();
      const second = event(`${p}.u.second`, 2);
      const sentinel = event(`${p}.u.sentinel`, 3);
      await bus.publish(second);
      await bus.publish(sentinel);
      await staying.count(3);
      assert.deepEqual(staying.ids(), [first.id, second.id, sentinel.id]);
      assert.deepEqual(leaving.ids(), [first.id]);
    });

    it("rejects an invalid pattern and registers nothing for it", async () => {
      const invalid = recorder();
      const sentinel = recorder();
      for (const pattern of [`${p}.**.x`, `${p}..x`, `${p}.dev*`, "", `${p}.x `]) {
        expectCode(await rejection(bus.subscribe(pattern, invalid.handler)), "ERR_INVALID_PATTERN", JSON.stringify(pattern));
      }
      await bus.subscribe(`${p}.**`, sentinel.handler);
      await bus.start();
      await bus.publish(event(`${p}.y.x`, 1));
      await bus.publish(event(`${p}.devx`, 2));
      await sentinel.count(2);
      assert.deepEqual(invalid.events, []);
    });

    it("rejects an invalid event with ValidationError naming the field, and delivers nothing for it", async () => {
      const rec = recorder();
      await bus.subscribe(`${p}.**`, rec.handler);
      await bus.start();
      const good = event(`${p}.bad`, 1);
      const { specversion: _dropped, ...missing } = good;
      const cases: [unknown, string][] = [
        [{ ...good, specversion: "0.3" }, "event.specversion"],
        [{ ...good, type: `${p}.*` }, "event.type"],
        [{ ...good, id: "" }, "event.id"],
        [{ ...good, resourceuid: "dev.>" }, "event.resourceuid"],
        [JSON.parse(`{"specversion":"1.0","id":"i","source":"s","type":"${p}.bad","__proto__":{"x":1}}`), "event.__proto__"],
        [missing, "event.specversion"],
      ];
      for (const [bad, path] of cases) {
        const error = await rejection(bus.publish(bad as CloudEvent));
        expectCode(error, "ERR_VALIDATION", path);
        assert.equal((error as { path?: unknown }).path, path);
      }
      const sentinel = event(`${p}.sentinel`, 2);
      await bus.publish(sentinel);
      await rec.count(1);
      assert.deepEqual(rec.ids(), [sentinel.id]);
    });

    it("close delivers every accepted event, then publish rejects; close is idempotent", async () => {
      const n = 20;
      const rec = recorder(async () => {
        await tick();
      });
      await bus.subscribe(`${p}.c.*`, rec.handler);
      await bus.start();
      const sent: string[] = [];
      for (let i = 0; i < n; i++) {
        const e = event(`${p}.c.e`, i);
        sent.push(e.id);
        await bus.publish(e);
      }
      await bus.close();
      assert.deepEqual(rec.ids(), sent);
      expectCode(await rejection(bus.publish(event(`${p}.c.e`, n))), "ERR_BUS_CLOSED", "publish after close");
      await bus.close();
    });
  });
}
