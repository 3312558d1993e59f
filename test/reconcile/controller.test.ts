import { afterEach, describe, expect, it } from "vitest";
import {
  BaseReconciler,
  ConflictError,
  Controller,
  ControllerStateError,
  InMemoryEventBus,
  InMemoryStorage,
  RegistrationError,
  TerminalError,
  ValidationError,
  newResourceEvent,
  silentLogger,
  type Condition,
  type ReconcileContext,
  type Reconciler,
  type Resource,
  type Result,
} from "../../src/index.js";
import { FreezingStorage, frozenWriteDetector } from "../fixtures/freezing-storage.js";

type Thing = Resource<{ value: number }, { seen?: number; conditions?: Condition[] }>;

/** A reconciler whose behaviour each test supplies; records every call. */
class ScriptedReconciler extends BaseReconciler<Thing> {
  readonly resourceKind = "Thing";
  readonly calls: { uid: string; attempt: number; at: number; value: number; reason?: string }[] = [];
  constructor(private readonly script: (self: ScriptedReconciler, ctx: ReconcileContext, r: Thing) => Promise<Result | void>) {
    super();
  }
  async reconcile(ctx: ReconcileContext, r: Thing): Promise<Result | void> {
    this.calls.push({ uid: r.uid, attempt: ctx.attempt, at: performance.now(), value: r.spec.value, reason: ctx.request.reason });
    return this.script(this, ctx, r);
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

// Values the controller reads shared (never copied) are frozen here: any code
// path that mutated one would log a TypeError, and the test would fail.
async function setup(reconciler: Reconciler, options: ConstructorParameters<typeof Controller>[2] = {}) {
  const bus = new InMemoryEventBus(1000, 10);
  const storage = new FreezingStorage();
  const { logger, violations } = frozenWriteDetector(options.logger ?? silentLogger);
  const controller = new Controller(bus, storage, { isolation: "inline", workers: 4, ...options, logger });
  await controller.registerReconciler(reconciler);
  cleanups.push(async () => {
    await controller.stop();
    await bus.close();
    await storage.close();
    expect(violations).toEqual([]);
  });
  return { bus, storage, controller };
}

function thing(uid: string, value = 1, status?: Thing["status"]): Thing {
  return status ? { kind: "Thing", uid, spec: { value }, status } : { kind: "Thing", uid, spec: { value } };
}

describe("Controller: triggers", () => {
  it("reconciles what storage holds at start, then what is saved later (the watch is the informer)", async () => {
    const r = new ScriptedReconciler(async () => {});
    const { storage, controller } = await setup(r);
    await storage.save("Thing", "a", thing("a"));
    await controller.start();
    await controller.idle();
    expect(r.calls.map((c) => c.uid)).toEqual(["a"]);
    await storage.save("Thing", "b", thing("b"));
    await controller.idle();
    expect(r.calls.map((c) => c.uid)).toEqual(["a", "b"]);
  });

  it("reconciles on a bus event about a registered kind, with the event type as reason", async () => {
    const r = new ScriptedReconciler(async () => {});
    const { bus, storage, controller } = await setup(r);
    await controller.start();
    await storage.save("Thing", "a", thing("a"));
    await controller.idle();
    await bus.publish(newResourceEvent("io.example.thing.poked", "Thing", "a", {}));
    await controller.idle();
    expect(r.calls).toHaveLength(2);
    expect(r.calls[1].reason).toBe("io.example.thing.poked");
  });

  it("does not trigger a resource again with the events its own reconcile emitted", async () => {
    const r = new ScriptedReconciler(async (self, ctx, t) => {
      await self.emitEvent(ctx, "io.example.thing.touched", t);
    });
    const { bus, storage, controller } = await setup(r);
    const seen: string[] = [];
    await bus.subscribe("io.example.thing.*", (e) => void seen.push(e.type));
    await storage.save("Thing", "a", thing("a"));
    await controller.start();
    await controller.idle();
    expect(seen).toEqual(["io.example.thing.touched"]);
    expect(r.calls).toHaveLength(1);
    expect(controller.stats().eventsEmitted).toBe(1);
  });

  it("skips a key whose resource no longer exists", async () => {
    const r = new ScriptedReconciler(async () => {});
    const { controller } = await setup(r);
    await controller.start();
    controller.enqueue({ resourceKind: "Thing", resourceUid: "ghost" });
    await controller.idle();
    expect(r.calls).toHaveLength(0);
    expect(controller.stats().missing).toBe(1);
  });

  it("a deleted resource's key is skipped and recycled; re-creating the resource reconciles it again", async () => {
    const r = new ScriptedReconciler(async (self, ctx, t) => {
      t.status = { seen: t.spec.value };
      await self.updateStatus(ctx, t);
    });
    const { storage, controller } = await setup(r);
    await controller.start();
    await storage.save("Thing", "a", thing("a", 1));
    await controller.idle();
    await storage.delete("Thing", "a");
    await controller.idle();
    expect(controller.stats().missing).toBe(1);
    await storage.save("Thing", "a", thing("a", 2));
    await controller.idle();
    expect(r.calls.map((c) => c.value)).toEqual([1, 2]);
    expect(((await storage.load("Thing", "a")) as Thing).status?.seen).toBe(2);
  });
});

describe("Controller: informer", () => {
  it("watches again and relists when the storage watch fails, so later and missed changes are reconciled; not ready meanwhile", async () => {
    const r = new ScriptedReconciler(async (self, ctx, t) => {
      t.status = { seen: t.spec.value };
      await self.updateStatus(ctx, t);
    });
    const storage = new InMemoryStorage();
    let breakWatch!: () => void;
    let watches = 0;
    // A storage whose first watch dies with an error on demand, as a lost connection would end it.
    const flaky = new Proxy(storage, {
      get(target, property, receiver) {
        if (property !== "watch") {
          const value = Reflect.get(target, property, receiver);
          return typeof value === "function" ? value.bind(target) : value;
        }
        return (kind?: string, options?: { signal?: AbortSignal }) => {
          watches++;
          if (watches > 1) return target.watch(kind, options);
          const inner = new AbortController();
          options?.signal?.addEventListener("abort", () => inner.abort());
          const broken = new Promise<never>((_, reject) => (breakWatch = () => reject(new Error("connection lost"))));
          return {
            async *[Symbol.asyncIterator]() {
              const it = target.watch(kind, { signal: inner.signal })[Symbol.asyncIterator]();
              try {
                for (;;) {
                  const next = await Promise.race([it.next(), broken]);
                  if (next.done) return;
                  yield next.value;
                }
              } finally {
                inner.abort();
              }
            },
          };
        };
      },
    });
    const bus = new InMemoryEventBus();
    const controller = new Controller(bus, flaky, { isolation: "inline", logger: silentLogger });
    await controller.registerReconciler(r);
    cleanups.push(async () => {
      await controller.stop();
      await bus.close();
      await storage.close();
    });
    await controller.start();
    await storage.save("Thing", "a", thing("a", 1));
    await controller.idle();
    expect(controller.health.ready).toBe(true);
    breakWatch();
    // Changes go unseen until the relist: not ready meanwhile.
    await expect.poll(() => controller.health.ready).toBe(false);
    expect(controller.health.report().reason).toMatch(/storage watch was lost/);
    // Written while no watch is running: only the relist can find it.
    await storage.save("Thing", "b", thing("b", 7));
    for (let i = 0; i < 2000 && watches < 2; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(watches).toBe(2);
    await controller.idle();
    expect(((await storage.load("Thing", "b")) as Thing).status?.seen).toBe(7);
    await expect.poll(() => controller.health.ready).toBe(true);
    await storage.save("Thing", "c", thing("c", 9));
    await controller.idle();
    expect(((await storage.load("Thing", "c")) as Thing).status?.seen).toBe(9);
  });

  it("resyncPeriod enqueues every resource again without any change", async () => {
    const r = new ScriptedReconciler(async () => {});
    const { storage, controller } = await setup(r, { resyncPeriod: 20 });
    await storage.save("Thing", "a", thing("a"));
    await controller.start();
    await untilCalls(controller, r, 3);
    expect(r.calls.slice(1).every((c) => c.reason === "resync")).toBe(true);
  });

  it("rejects start when the initial list fails, and stays stopped", async () => {
    const storage = new InMemoryStorage();
    const failing = new Proxy(storage, {
      get(target, property, receiver) {
        if (property === "list" || property === "loadAll") return async () => Promise.reject(new Error("storage unavailable"));
        const value = Reflect.get(target, property, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const controller = new Controller(new InMemoryEventBus(), failing, { isolation: "inline", logger: silentLogger });
    await controller.registerReconciler(new ScriptedReconciler(async () => {}));
    await expect(controller.start()).rejects.toThrow(/storage unavailable/);
    await expect(controller.stop()).resolves.toBeUndefined();
  });
});

describe("Controller: result handling", () => {
  it("requeue: true really runs the reconcile again", async () => {
    const r = new ScriptedReconciler(async (self) => (self.calls.length < 3 ? { requeue: true } : {}));
    const { storage, controller } = await setup(r);
    await storage.save("Thing", "a", thing("a"));
    await controller.start();
    await untilCalls(controller, r, 3);
    expect(r.calls).toHaveLength(3);
    expect(controller.stats().requeued).toBe(2);
  });

  it("a thrown error is retried with backoff until the reconcile succeeds", async () => {
    const r = new ScriptedReconciler(async (self) => {
      if (self.calls.length < 3) throw new Error("connection failed");
    });
    const { storage, controller } = await setup(r, { rateLimiter: undefined });
    await storage.save("Thing", "a", thing("a"));
    await controller.start();
    await untilCalls(controller, r, 3);
    expect(r.calls.map((c) => c.attempt)).toEqual([1, 2, 3]);
    // Default backoff 5 ms * 2^n: the 2nd retry waits at least 10 ms after the 1st.
    expect(r.calls[2].at - r.calls[1].at).toBeGreaterThanOrEqual(10);
    expect(controller.stats()).toMatchObject({ failed: 2, succeeded: 1 });
  });

  it("a TerminalError is not retried and is recorded as condition Reconciled=False", async () => {
    const r = new ScriptedReconciler(async () => {
      throw new TerminalError("config is nil", { reason: "InvalidConfig" });
    });
    const { storage, controller } = await setup(r);
    await storage.save("Thing", "a", { ...thing("a"), metadata: { generation: 4 } });
    await controller.start();
    await controller.idle();
    expect(r.calls).toHaveLength(1);
    expect(controller.stats()).toMatchObject({ terminal: 1, failed: 0, delayed: 0 });
    const stored = (await storage.load("Thing", "a")) as Thing;
    expect(stored.status?.conditions?.[0]).toMatchObject({
      type: "Reconciled",
      status: "False",
      reason: "InvalidConfig",
      message: "config is nil",
      observedGeneration: 4,
    });
  });

  it("requeueAfter runs the key again after the delay, never before it", async () => {
    const r = new ScriptedReconciler(async (self) => (self.calls.length === 1 ? { requeueAfter: 40 } : {}));
    const { storage, controller } = await setup(r);
    await storage.save("Thing", "a", thing("a"));
    await controller.start();
    await controller.idle();
    expect(controller.stats().delayed).toBe(1);
    await untilCalls(controller, r, 2);
    expect(r.calls[1].at - r.calls[0].at).toBeGreaterThanOrEqual(40);
  });

  it("aborts a reconcile past reconcileTimeout through its signal, names the key, and retries it", async () => {
    const warnings: string[] = [];
    const r = new ScriptedReconciler(async (self, ctx) => {
      if (self.calls.length === 1) {
        await new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason), { once: true }));
      }
    });
    const logger = { ...silentLogger, warn: (...args: unknown[]) => void warnings.push(args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" ")) };
    const { storage, controller } = await setup(r, { reconcileTimeout: 30, logger });
    await storage.save("Thing", "a", thing("a"));
    await controller.start();
    await untilCalls(controller, r, 2);
    expect(controller.stats()).toMatchObject({ timeouts: 1, succeeded: 1 });
    expect(warnings.some((w) => w.includes("Thing/a: reconcile exceeded 30 ms and was aborted"))).toBe(true);
  });

  it("an invalid Result is an error naming the field, retried", async () => {
    const r = new ScriptedReconciler(async (self) => (self.calls.length === 1 ? ({ requeueAfter: -5 } as Result) : {}));
    const { storage, controller } = await setup(r);
    await storage.save("Thing", "a", thing("a"));
    await controller.start();
    await untilCalls(controller, r, 2);
    expect(controller.stats().failed).toBe(1);
  });
});

describe("Controller: status", () => {
  it("writes status with compare-and-swap: a concurrent spec change makes it requeue at once, losing no write", async () => {
    let storageRef: InMemoryStorage | undefined;
    const r = new ScriptedReconciler(async (self, ctx, t) => {
      if (self.calls.length === 1) {
        // Someone else changes the spec while this reconcile works on the old one.
        await storageRef!.save("Thing", "a", thing("a", 2));
      }
      t.status = { seen: t.spec.value };
      await self.updateStatus(ctx, t);
    });
    const { storage, controller } = await setup(r);
    storageRef = storage;
    await storage.save("Thing", "a", thing("a", 1));
    await controller.start();
    await controller.idle();
    const stored = (await storage.load("Thing", "a")) as Thing;
    expect(stored.spec.value).toBe(2);
    expect(stored.status?.seen).toBe(2);
    expect(r.calls.map((c) => c.value)).toEqual([1, 2]);
    expect(controller.stats().conflicts).toBe(1);
    expect(controller.stats().failed).toBe(0);
  });

  it("does not write a status equal to the stored one, and does not re-trigger on its own write", async () => {
    const r = new ScriptedReconciler(async (self, ctx, t) => {
      t.status = { seen: t.spec.value };
      await self.updateStatus(ctx, t);
    });
    const { storage, controller } = await setup(r);
    await storage.save("Thing", "a", thing("a"));
    await controller.start();
    await controller.idle();
    const first = await storage.load("Thing", "a");
    expect(r.calls).toHaveLength(1);
    controller.enqueue({ resourceKind: "Thing", resourceUid: "a", reason: "resync" });
    controller.enqueue({ resourceKind: "Thing", resourceUid: "a", reason: "resync" });
    await controller.idle();
    expect(r.calls).toHaveLength(2);
    expect(controller.stats()).toMatchObject({ statusWrites: 1, statusUnchanged: 1 });
    expect((await storage.load("Thing", "a"))?.metadata?.revision).toBe(first?.metadata?.revision);
  });

  it("keeps lastTransitionTime while a condition's status stays the same", async () => {
    const r = new ScriptedReconciler(async (self, ctx, t) => {
      self.setCondition(t, "Ready", "True", "Up", `value ${t.spec.value}`);
      await self.updateStatus(ctx, t);
    });
    const { storage, controller } = await setup(r);
    await storage.save("Thing", "a", thing("a", 1));
    await controller.start();
    await controller.idle();
    const before = ((await storage.load("Thing", "a")) as Thing).status!.conditions![0];
    await storage.save("Thing", "a", { ...((await storage.load("Thing", "a")) as Thing), spec: { value: 2 } });
    await controller.idle();
    const after = ((await storage.load("Thing", "a")) as Thing).status!.conditions![0];
    expect(after.message).toBe("value 2");
    expect(after.lastTransitionTime).toBe(before.lastTransitionTime);
  });

  it("records conditions set before a transient error even without updateStatus", async () => {
    const r = new ScriptedReconciler(async (self, _ctx, t) => {
      if (self.calls.length === 1) {
        self.setCondition(t, "Ready", "False", "ConnectError", "connection refused");
        throw new Error("connection refused");
      }
    });
    const { storage, controller } = await setup(r);
    await storage.save("Thing", "a", thing("a"));
    await controller.start();
    await untilCalls(controller, r, 2);
    const stored = (await storage.load("Thing", "a")) as Thing;
    expect(stored.status?.conditions?.[0]).toMatchObject({ type: "Ready", status: "False", reason: "ConnectError" });
  });

  it("refuses updateStatus of another resource than the one reconciled", async () => {
    const r = new ScriptedReconciler(async (self, ctx) => {
      await self.updateStatus(ctx, thing("other"));
    });
    const { storage, controller } = await setup(r);
    await storage.save("Thing", "a", thing("a"));
    await controller.start();
    await untilCalls(controller, r, 2);
    expect(controller.stats().failed).toBeGreaterThanOrEqual(1);
    expect(await storage.exists("Thing", "other")).toBe(false);
  });
});

describe("Controller: concurrency", () => {
  it("never reconciles one key twice at once under 1,000 racing adds with 4 workers", async () => {
    const running = new Set<string>();
    let overlaps = 0;
    const r = new ScriptedReconciler(async (_self, _ctx, t) => {
      if (running.has(t.uid)) overlaps++;
      running.add(t.uid);
      for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
      running.delete(t.uid);
    });
    const { storage, controller } = await setup(r, { workers: 4, maxBatch: 4 });
    const uids = Array.from({ length: 10 }, (_, i) => `k${i}`);
    for (const uid of uids) await storage.save("Thing", uid, thing(uid));
    await controller.start();
    for (let i = 0; i < 1000; i++) {
      controller.enqueue({ resourceKind: "Thing", resourceUid: uids[i % uids.length] });
      if (i % 7 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await controller.idle();
    expect(overlaps).toBe(0);
    // Adds during a reconcile were not lost: each key ran again after its last add.
    expect(r.calls.length).toBeGreaterThan(uids.length);
    expect(r.calls.length).toBeLessThan(1000);
  });

  it("an add while a key is processing runs it again after, with the newer data", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const r = new ScriptedReconciler(async (self) => {
      if (self.calls.length === 1) await gate;
    });
    const { storage, controller } = await setup(r);
    await storage.save("Thing", "a", thing("a", 1));
    await controller.start();
    while (r.calls.length === 0) await new Promise((resolve) => setImmediate(resolve));
    await storage.save("Thing", "a", thing("a", 2));
    await new Promise((resolve) => setImmediate(resolve));
    expect(r.calls).toHaveLength(1);
    release();
    await controller.idle();
    expect(r.calls.map((c) => c.value)).toEqual([1, 2]);
  });

  it("stop() drains: the running reconcile finishes, queued keys do not start", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let finished = 0;
    const r = new ScriptedReconciler(async () => {
      await gate;
      finished++;
    });
    const { storage, controller } = await setup(r, { maxConcurrentReconciles: 1 });
    for (let i = 0; i < 10; i++) await storage.save("Thing", `k${i}`, thing(`k${i}`));
    await controller.start();
    while (r.calls.length === 0) await new Promise((resolve) => setImmediate(resolve));
    let stopped = false;
    const stopping = controller.stop().then(() => (stopped = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(r.calls).toHaveLength(1);
    expect(finished).toBe(1);
    expect(() => controller.enqueue({ resourceKind: "Thing", resourceUid: "k1" })).not.toThrow();
    await new Promise((resolve) => setImmediate(resolve));
    expect(r.calls).toHaveLength(1);
  });
});

describe("Controller: lifecycle", () => {
  it("stop() during start() waits for the start, then drains; every stop call shares that drain", async () => {
    const r = new ScriptedReconciler(async () => {});
    const { storage, controller } = await setup(r);
    await storage.save("Thing", "a", thing("a"));
    const starting = controller.start();
    const first = controller.stop();
    const second = controller.stop();
    await Promise.all([starting, first, second]);
    expect(controller.health.report().ready).toBe(false);
    await expect(controller.start()).rejects.toThrow(ControllerStateError);
    const calls = r.calls.length;
    await storage.save("Thing", "b", thing("b"));
    await new Promise((resolve) => setImmediate(resolve));
    expect(r.calls.length).toBe(calls);
  });
});

describe("Controller: bad input", () => {
  it("rejects reconcilers without a valid kind or reconcile method", async () => {
    const controller = new Controller(new InMemoryEventBus(), new InMemoryStorage(), { logger: silentLogger });
    await expect(controller.registerReconciler({ resourceKind: "dev.*", reconcile: async () => {} })).rejects.toThrow(RegistrationError);
    await expect(controller.registerReconciler({ resourceKind: "Thing" } as unknown as Reconciler)).rejects.toThrow(/reconcile\(ctx, resource\)/);
    await expect(controller.registerReconciler(new URL("file:///nonexistent/reconciler.js"))).rejects.toThrow(/cannot import/);
  });

  it("rejects a second reconciler for the same kind and registration after start", async () => {
    const { controller } = await setup(new ScriptedReconciler(async () => {}));
    await expect(controller.registerReconciler(new ScriptedReconciler(async () => {}))).rejects.toThrow(/registered already/);
    await controller.start();
    await expect(controller.registerReconciler({ resourceKind: "Other", reconcile: async () => {} })).rejects.toThrow(ControllerStateError);
    await expect(controller.start()).rejects.toThrow(ControllerStateError);
  });

  it("rejects bad requests with errors naming the field", async () => {
    const { controller } = await setup(new ScriptedReconciler(async () => {}));
    expect(() => controller.enqueue({ resourceKind: "Thing", resourceUid: "dev.*" })).toThrow(/request.resourceUid/);
    expect(() => controller.enqueue({ resourceKind: "Unknown", resourceUid: "a" })).toThrow(/no reconciler is registered for kind Unknown/);
    expect(() => controller.enqueueAfter({ resourceKind: "Thing", resourceUid: "a" }, -1)).toThrow(ValidationError);
  });

  it("rejects bad options", () => {
    const make = (options: object) => () => new Controller(new InMemoryEventBus(), new InMemoryStorage(), options);
    expect(make({ workers: 0 })).toThrow(/options.workers/);
    expect(make({ isolation: "thread" })).toThrow(/options.isolation/);
    expect(make({ reconcileTimeout: -1 })).toThrow(/options.reconcileTimeout/);
    expect(make({ maxBatch: 1.5 })).toThrow(/options.maxBatch/);
  });

  it("keeps converging when a client call fails inside a reconcile", async () => {
    const r = new ScriptedReconciler(async (self, ctx, t) => {
      if (self.calls.length === 1) await self.client.create(ctx, thing(t.uid));
    });
    const { storage, controller } = await setup(r);
    await storage.save("Thing", "a", thing("a"));
    await controller.start();
    await untilCalls(controller, r, 2);
    expect(controller.stats().failed).toBe(1);
    expect(controller.stats().succeeded).toBe(1);
    await expect(storage.save("Thing", "a", thing("a"), { expectedRevision: 0 })).rejects.toThrow(ConflictError);
  });
});

/** Waits (without sleeping) until the reconciler ran `n` times and the controller is idle. */
async function untilCalls(controller: Controller, r: ScriptedReconciler, n: number): Promise<void> {
  const deadline = performance.now() + 10_000;
  for (;;) {
    await controller.idle();
    if (r.calls.length >= n) return;
    if (performance.now() > deadline) throw new Error(`only ${r.calls.length} of ${n} reconciles happened`);
    // Retries and requeueAfter wait in the delay scheduler; idle() does not count them.
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}
