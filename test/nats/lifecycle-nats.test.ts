// Finalizers, owner garbage collection, the generation predicate and per-kind
// schemas on NATS (JetStream bus + KV storage), as lifecycle.test.ts shows them in memory.
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import * as v from "valibot";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Controller, StorageClient, silentLogger, type Reconciler, type RegisterOptions } from "../../src/index.js";
import { JetStreamEventBus, KvStorage, connectNats } from "../../src/nats.js";
import { FINALIZER, type Held } from "../fixtures/finalizer-reconciler.js";
import { distUrl, untilAll } from "../helpers/converged.js";
import { natsUrl } from "../helpers/nats.js";
import { pollUntil } from "../helpers/poll.js";
import { Counting, type Thing } from "../fixtures/counting-reconciler.js";



let nc: NatsConnection;
let serial = 0;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  nc = await connectNats({ servers: natsUrl() });
});
afterAll(async () => {
  await nc.close();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

async function setup(reconciler: Reconciler | URL, register: RegisterOptions = {}, isolation: "inline" | "worker" = "inline") {
  const name = `life_${process.pid}_${Date.now().toString(36)}_${serial++}`;
  const bus = new JetStreamEventBus(nc, { stream: name.toUpperCase(), subjectPrefix: `life.${name}`, deadLetterSubject: `lifedlq.${name}`, logger: silentLogger });
  const storage = await KvStorage.open(nc, { bucket: name, logger: silentLogger });
  const controller = new Controller(bus, storage, { isolation, workers: 2, logger: silentLogger });
  await controller.registerReconciler(reconciler, register);
  cleanups.push(async () => {
    await controller.stop();
    await bus.close();
    await storage.close();
    await new Kvm(nc).open(name).then((kv) => kv.destroy());
    const jsm = await jetstreamManager(nc);
    for (const stream of [bus.stream, bus.deadLetterStream]) await jsm.streams.delete(stream).catch(() => {});
  });
  return { storage, controller, client: new StorageClient(storage) };
}

describe("lifecycle on NATS", () => {
  it("finalizers hold a deleted resource until its worker-side reconciler cleans up", async () => {
    const { storage, controller, client } = await setup(distUrl("test/fixtures/finalizer-reconciler.js"), {}, "worker");
    await controller.start();
    await client.create({ kind: "Held", uid: "h1", spec: { n: 1 } });
    await untilAll<Held>(storage, "Held", ["h1"], (h) => (h.metadata?.finalizers ?? []).includes(FINALIZER));
    await client.delete("Held", "h1");
    await pollUntil(async () => !(await storage.exists("Held", "h1")), "Held/h1 deleted after cleanup");
    expect(await storage.exists("Cleanup", "h1")).toBe(true);
  });

  it("garbage-collects the children of a deleted owner", async () => {
    const { storage, controller, client } = await setup(new Counting("Node"));
    await controller.start();
    await client.create({ kind: "Cluster", uid: "alpha", spec: {} });
    await client.create({ kind: "Node", uid: "a1", metadata: { ownerUid: "alpha", ownerKind: "Cluster" }, spec: { value: 1 } });
    await client.create({ kind: "Node", uid: "b1", metadata: { ownerUid: "beta", ownerKind: "Cluster" }, spec: { value: 2 } });
    await untilAll<Thing>(storage, "Node", ["a1", "b1"], (n) => n.status?.seen !== undefined);
    await client.delete("Cluster", "alpha");
    await pollUntil(async () => (await storage.list("Node")).length === 1, "a1 collected");
    expect(await storage.list("Node")).toEqual(["b1"]);
  });

  it("skips status-only changes, reconciles spec changes", async () => {
    const r = new Counting();
    const { storage, controller, client } = await setup(r);
    await controller.start();
    await client.create({ kind: "Thing", uid: "a", spec: { value: 1 } });
    await untilAll<Thing>(storage, "Thing", ["a"], (t) => t.status?.seen === 1);
    const current = (await storage.load("Thing", "a")) as Thing;
    await storage.save("Thing", "a", { ...current, status: { seen: 99 } }, { expectedRevision: current.metadata!.revision });
    await client.update({ ...((await storage.load("Thing", "a")) as Thing), spec: { value: 2 } });
    await untilAll<Thing>(storage, "Thing", ["a"], (t) => t.status?.seen === 2);
    expect(r.calls).toEqual([1, 2]);
  });

  it("keeps an invalid resource out of reconciles with Valid=False", async () => {
    const r = new Counting();
    const schema = v.object({ spec: v.object({ value: v.pipe(v.number(), v.minValue(0, "must not be negative")) }) });
    const { storage, controller, client } = await setup(r, { schema });
    await controller.start();
    await client.create({ kind: "Thing", uid: "bad", spec: { value: -1 } });
    await untilAll<Thing>(storage, "Thing", ["bad"], (t) => t.status?.conditions?.some((c) => c.type === "Valid" && c.status === "False") ?? false);
    expect(r.calls).toEqual([]);
  });
});
