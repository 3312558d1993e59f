// A KV bucket lost while a controller runs — deleted and created again by
// someone else, or the server restarted with a wiped store — must not stop the
// controller for ever: the storage notices, says so once, creates the bucket
// again, ends its watches with KvBucketResetError, and the controller's
// re-watch and relist pick up new writes. Real servers, real deletes and wipes.
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { afterEach, describe, expect, it } from "vitest";
import { Controller, InMemoryEventBus, silentLogger, type StorageChange } from "../../src/index.js";
import { KvBucketResetError, KvStorage, connectNats } from "../../src/nats.js";
import { Counting, type Thing } from "../fixtures/counting-reconciler.js";
import { untilAll } from "../helpers/converged.js";
import { NatsServer } from "../helpers/nats-server.js";
import { pollUntil } from "../helpers/poll.js";
import { within } from "../portable/harness.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

function recordingLogger() {
  const lines: string[] = [];
  const log = (message: string, ...args: unknown[]) => void lines.push([message, ...args.map(String)].join(" "));
  return { lines, logger: { debug: log, info: log, warn: log, error: log } };
}

const thing = (uid: string, value: number): Thing => ({ kind: "Thing", uid, spec: { value } });
const uids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

/** A server of its own, a controller on bucket `bucket` (history 3), and 20 things it has converged. */
async function convergedFleet(bucket: string) {
  const server = await NatsServer.start();
  const nc = await connectNats({ servers: server.url, reconnectTimeWaitMs: 50 });
  const storageLog = recordingLogger();
  const storage = await KvStorage.open(nc, { bucket, history: 3, logger: storageLog.logger, timeout: 2000 });
  const bus = new InMemoryEventBus();
  const controller = new Controller(bus, storage, { isolation: "inline", workers: 2, logger: silentLogger });
  await controller.registerReconciler(new Counting("Thing"));
  cleanups.push(async () => {
    await controller.stop();
    await bus.close();
    await storage.close();
    await nc.close();
    await server.remove();
  });
  await controller.start();
  const before = uids("a", 20);
  await Promise.all(before.map((uid) => storage.save("Thing", uid, thing(uid, 1))));
  await untilAll<Thing>(storage, "Thing", before, (t) => t.status?.seen === 1);
  return { server, nc, storage, storageLog };
}

describe("KvStorage: a bucket lost while a controller runs", () => {
  it("deleted and created again by another client: the watch ends with KvBucketResetError, new writes converge", async () => {
    const bucket = "reset_deleted";
    const { nc, storage, storageLog } = await convergedFleet(bucket);

    // A watch of our own, to see how it ends.
    const watch = storage.watch()[Symbol.asyncIterator]();
    await storage.exists("Thing", "a0"); // the watch's consumer exists once a later request is answered
    const ended = (async () => {
      for (;;) {
        const next: IteratorResult<StorageChange> = await watch.next();
        if (next.done) return "done";
      }
    })().catch((error: unknown) => error);

    // Someone deletes the bucket and re-submits the fleet through a bucket of their own making.
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(`KV_${bucket}`);
    const other = await KvStorage.open(nc, { bucket, history: 3, logger: silentLogger });
    cleanups.push(() => other.close());
    const after = uids("b", 20);

    expect(await ended).toBeInstanceOf(KvBucketResetError);
    await Promise.all(after.map((uid) => other.save("Thing", uid, thing(uid, 2))));
    await untilAll<Thing>(storage, "Thing", after, (t) => t.status?.seen === 2);
    expect(storage.stats()).toMatchObject({ bucketResets: 1, bucketLost: false });
    expect(storageLog.lines.filter((line) => line.includes(`KV bucket "${bucket}" was lost`))).toHaveLength(1);
  });

  it("nats-server restarted with a wiped store: the bucket is created again with its options, new writes converge", async () => {
    const bucket = "reset_wiped";
    const { server, nc, storage, storageLog } = await convergedFleet(bucket);

    await server.stop();
    for (const entry of readdirSync(server.storeDir)) rmSync(join(server.storeDir, entry), { recursive: true, force: true });
    await server.restart();

    // The storage puts the bucket back by itself (nobody else re-creates it here).
    await pollUntil(() => storage.stats().bucketResets === 1, "the bucket created again");
    const status = await (await new Kvm(nc).open(bucket)).status();
    expect(status.history).toBe(3);
    const after = uids("b", 20);
    await Promise.all(after.map((uid) => storage.save("Thing", uid, thing(uid, 2))));
    await untilAll<Thing>(storage, "Thing", after, (t) => t.status?.seen === 2);
    expect(await storage.list("Thing")).toHaveLength(after.length);
    expect(storageLog.lines.filter((line) => line.includes(`KV bucket "${bucket}" was lost`))).toHaveLength(1);
  });
});

describe("KvStorage: a watch consumer deleted under a running controller", () => {
  it("is replaced at once from where the watch was: the watch goes on, nothing lost or twice, new writes converge", async () => {
    const bucket = "consumer_gone";
    const { nc, storage } = await convergedFleet(bucket);
    const watch = storage.watch()[Symbol.asyncIterator]();
    await storage.exists("Thing", "a0"); // the watch's consumer exists once a later request is answered
    const jsm = await jetstreamManager(nc);
    const names: string[] = [];
    for await (const c of jsm.consumers.list(`KV_${bucket}`)) names.push(c.name);
    expect(names.length).toBeGreaterThan(1); // the controller's watch and ours
    for (const name of names) await jsm.consumers.delete(`KV_${bucket}`, name);

    // Without a new consumer the watch would stay silent for a minute, and the fleet would not converge.
    const after = uids("b", 10);
    await Promise.all(after.map((uid) => storage.save("Thing", uid, thing(uid, 2))));
    await untilAll<Thing>(storage, "Thing", after, (t) => t.status?.seen === 2);
    const seen = new Set<string>();
    while (seen.size < after.length) {
      const next = await within(watch.next(), "the watch's next change");
      expect(next.done).toBe(false);
      if (!next.done && next.value.uid.startsWith("b") && next.value.type === "put") seen.add(next.value.uid);
    }
    expect(storage.stats().bucketResets).toBe(0);
  });
});
