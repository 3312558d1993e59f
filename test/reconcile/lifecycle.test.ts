import * as v from "valibot";
import { afterEach, describe, expect, it } from "vitest";
import {
  BaseReconciler,
  Controller,
  InMemoryEventBus,
  InMemoryStorage,
  StorageClient,
  ValidationError,
  silentLogger,
  type ControllerOptions,
  type ReconcileContext,
  type Reconciler,
  type RegisterOptions,
} from "../../src/index.js";
import { FINALIZER, type Held } from "../fixtures/finalizer-reconciler.js";
import { FreezingStorage, frozenWriteDetector } from "../fixtures/freezing-storage.js";
import { distUrl, untilAll } from "../helpers/converged.js";
import { Counting, type Thing } from "../fixtures/counting-reconciler.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

// Shared values are frozen (see FreezingStorage): finalizers, deletion, owner
// collection and schemas must all work without mutating what the controller reads.
async function setup(reconcilers: (Reconciler | URL)[], options: ControllerOptions = {}, register: RegisterOptions = {}) {
  const bus = new InMemoryEventBus();
  const storage = new FreezingStorage();
  const { logger, violations } = frozenWriteDetector(options.logger ?? silentLogger);
  const controller = new Controller(bus, storage, { isolation: "inline", workers: 2, ...options, logger });
  for (const r of reconcilers) await controller.registerReconciler(r, register);
  cleanups.push(async () => {
    await controller.stop();
    await bus.close();
    await storage.close();
    expect(violations).toEqual([]);
  });
  return { storage, controller, client: new StorageClient(storage) };
}



describe.each(["inline", "worker"] as const)("finalizers (%s)", (isolation) => {
  it("delete marks a resource with finalizers; the reconciler cleans up, removes its finalizer, and then it is gone", async () => {
    const reconciler = isolation === "worker" ? distUrl("test/fixtures/finalizer-reconciler.js") : new (await import("../fixtures/finalizer-reconciler.js")).default();
    const { storage, controller, client } = await setup([reconciler], { isolation });
    await controller.start();
    await client.create({ kind: "Held", uid: "h1", spec: { n: 1 } });
    await untilAll<Held>(storage, "Held", ["h1"], (h) => h.status?.ready === true && (h.metadata?.finalizers ?? []).includes(FINALIZER));
    expect(await client.delete("Held", "h1")).toBe(true);
    const marked = await storage.load("Held", "h1");
    expect(marked?.metadata?.deletedAt).toEqual(expect.any(String));
    expect(marked?.metadata?.generation).toBe(2);
    await controller.idle();
    expect(await storage.exists("Held", "h1")).toBe(false);
    expect(await storage.exists("Cleanup", "h1")).toBe(true);
    expect(controller.stats().deletes).toBe(1);
  });
});

describe("owner garbage collection", () => {
  it("deletes the children of a deleted owner, leaving others", async () => {
    const { storage, controller, client } = await setup([new Counting("Node")]);
    await controller.start();
    await client.create({ kind: "Cluster", uid: "alpha", spec: {} });
    await client.create({ kind: "Node", uid: "a1", metadata: { ownerUid: "alpha", ownerKind: "Cluster" }, spec: { value: 1 } });
    await client.create({ kind: "Node", uid: "a2", metadata: { ownerUid: "alpha" }, spec: { value: 2 } });
    await client.create({ kind: "Node", uid: "b1", metadata: { ownerUid: "beta", ownerKind: "Cluster" }, spec: { value: 3 } });
    await client.create({ kind: "Node", uid: "lone", spec: { value: 4 } });
    await controller.idle();
    await client.delete("Cluster", "alpha");
    await controller.idle();
    expect((await storage.list("Node")).sort()).toEqual(["lone"].concat(["b1"]).sort());
  });

  it("finds orphans whose owner vanished while the controller was down, at the initial list", async () => {
    const bus = new InMemoryEventBus();
    const storage = new InMemoryStorage();
    const client = new StorageClient(storage);
    await client.create({ kind: "Node", uid: "orphan", metadata: { ownerUid: "gone", ownerKind: "Cluster" }, spec: { value: 1 } });
    await client.create({ kind: "Cluster", uid: "here", spec: {} });
    await client.create({ kind: "Node", uid: "kept", metadata: { ownerUid: "here", ownerKind: "Cluster" }, spec: { value: 2 } });
    const controller = new Controller(bus, storage, { isolation: "inline", logger: silentLogger });
    await controller.registerReconciler(new Counting("Node"));
    cleanups.push(async () => {
      await controller.stop();
      await bus.close();
      await storage.close();
    });
    await controller.start();
    await controller.idle();
    expect(await storage.list("Node")).toEqual(["kept"]);
  });

  it("can be turned off", async () => {
    const { storage, controller, client } = await setup([new Counting("Node")], { garbageCollection: false });
    await controller.start();
    await client.create({ kind: "Cluster", uid: "alpha", spec: {} });
    await client.create({ kind: "Node", uid: "a1", metadata: { ownerUid: "alpha", ownerKind: "Cluster" }, spec: { value: 1 } });
    await controller.idle();
    await client.delete("Cluster", "alpha");
    await controller.idle();
    expect(await storage.list("Node")).toEqual(["a1"]);
  });
});

describe("generation-changed predicate", () => {
  it("skips storage changes that leave the generation as it was; a spec change reconciles", async () => {
    const r = new Counting();
    const { storage, controller, client } = await setup([r]);
    await controller.start();
    await client.create({ kind: "Thing", uid: "a", spec: { value: 1 } });
    await controller.idle();
    expect(r.calls).toEqual([1]);
    // Someone else writes only status (generation unchanged): not a reason to reconcile.
    const current = (await storage.load("Thing", "a")) as Thing;
    await storage.save("Thing", "a", { ...current, status: { seen: 99 } }, { expectedRevision: current.metadata!.revision });
    await controller.idle();
    expect(r.calls).toEqual([1]);
    await client.update({ ...((await storage.load("Thing", "a")) as Thing), spec: { value: 2 } });
    await controller.idle();
    expect(r.calls).toEqual([1, 2]);
  });

  it("can be switched off per kind: then every change reconciles", async () => {
    const r = new Counting();
    const { storage, controller, client } = await setup([r], {}, { generationChangedPredicate: false });
    await controller.start();
    await client.create({ kind: "Thing", uid: "a", spec: { value: 1 } });
    await controller.idle();
    const current = (await storage.load("Thing", "a")) as Thing;
    await storage.save("Thing", "a", { ...current, status: { seen: 99 } }, { expectedRevision: current.metadata!.revision });
    await controller.idle();
    expect(r.calls).toEqual([1, 1]);
  });
});

describe("per-kind schema", () => {
  const ThingSchema = v.object({
    kind: v.literal("Thing"),
    uid: v.string(),
    spec: v.object({ value: v.pipe(v.number(), v.minValue(0, "must not be negative")) }),
  });

  it("an invalid resource gets Valid=False with the reason, is not reconciled nor retried; fixed, it is", async () => {
    const r = new Counting();
    const { storage, controller, client } = await setup([r], {}, { schema: ThingSchema });
    await controller.start();
    await client.create({ kind: "Thing", uid: "bad", spec: { value: -1 } });
    await controller.idle();
    expect(r.calls).toEqual([]);
    const invalid = (await storage.load("Thing", "bad")) as Thing;
    expect(invalid.status?.conditions?.find((c) => c.type === "Valid")).toMatchObject({
      status: "False",
      reason: "InvalidResource",
      message: expect.stringContaining("spec.value: must not be negative"),
    });
    expect(controller.stats()).toMatchObject({ invalid: 1, delayed: 0 });
    await client.update({ ...invalid, spec: { value: 5 } });
    await controller.idle();
    expect(r.calls).toEqual([5]);
    const fixed = (await storage.load("Thing", "bad")) as Thing;
    expect(fixed.status?.conditions?.find((c) => c.type === "Valid")?.status).toBe("True");
    expect(fixed.status?.seen).toBe(5);
  });

  it("rejects a schema that is not a valibot schema", async () => {
    const controller = new Controller(new InMemoryEventBus(), new InMemoryStorage(), { logger: silentLogger });
    await expect(controller.registerReconciler(new Counting(), { schema: { parse() {} } as never })).rejects.toThrow(ValidationError);
  });
});

describe("priority", () => {
  it("serves a high-priority key before waiting low-priority ones, and the initial list low", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const order: string[] = [];
    const r = new (class extends BaseReconciler<Thing> {
      readonly resourceKind = "Thing";
      async reconcile(_ctx: ReconcileContext, t: Thing): Promise<void> {
        order.push(t.uid);
        if (order.length === 1) await gate;
      }
    })();
    const bus = new InMemoryEventBus();
    const storage = new InMemoryStorage();
    const client = new StorageClient(storage);
    for (let i = 0; i < 5; i++) await client.create({ kind: "Thing", uid: `listed${i}`, spec: { value: i } });
    await client.create({ kind: "Thing", uid: "urgent", spec: { value: 9 } });
    const controller = new Controller(bus, storage, { isolation: "inline", maxConcurrentReconciles: 1, logger: silentLogger });
    await controller.registerReconciler(r);
    cleanups.push(async () => {
      await controller.stop();
      await bus.close();
      await storage.close();
    });
    await controller.start();
    while (order.length === 0) await new Promise((resolve) => setImmediate(resolve));
    // Everything else waits at LOW_PRIORITY from the initial list; this one jumps the line.
    controller.enqueue({ resourceKind: "Thing", resourceUid: "urgent" }, { priority: 100 });
    release();
    await controller.idle();
    expect(order[1]).toBe("urgent");
    expect(order).toHaveLength(6);
  });

  it("rejects a priority out of range, naming it", async () => {
    const { controller } = await setup([new Counting()]);
    expect(() => controller.enqueue({ resourceKind: "Thing", resourceUid: "a" }, { priority: 1.5 })).toThrow(/options.priority/);
  });
});
