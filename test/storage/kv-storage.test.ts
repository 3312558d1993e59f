import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { connect, errors, type NatsConnection } from "@nats-io/transport-node";
import { decode } from "@msgpack/msgpack";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { ValidationError } from "../../src/codec/errors.js";
import { ConflictError, StorageClosedError } from "../../src/storage/errors.js";
import { KvUnavailableError, KvWatchError } from "../../src/storage/kv-errors.js";
import { KvStorage, type KvStorageOptions } from "../../src/storage/kv-storage.js";
import type { Resource } from "../../src/storage/resource.js";
import type { Storage, StorageChange } from "../../src/storage/storage.js";
import { BAD_NAMES, storageContract } from "../contract/storage-contract.js";
import { natsUrl } from "../helpers/nats.js";
import { DENY_CONFIG, NatsServer } from "../helpers/nats-server.js";
import { pollUntil } from "../helpers/poll.js";

let shared: NatsConnection | undefined;
async function sharedConnection(): Promise<NatsConnection> {
  shared ??= await connect({ servers: natsUrl() });
  return shared;
}
afterAll(async () => {
  await shared?.close();
});

let unique = 0;
const bucketName = () => `kvtest_${process.pid}_${Date.now().toString(36)}_${unique++}`;

async function destroyBucket(nc: NatsConnection, bucket: string): Promise<void> {
  if (nc.isClosed()) return;
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(`KV_${bucket}`).catch(() => {});
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

/** A KvStorage on its own bucket, closed and destroyed after the test. */
async function openStorage(options: KvStorageOptions = {}, nc?: NatsConnection): Promise<KvStorage> {
  const conn = nc ?? (await sharedConnection());
  const bucket = options.bucket ?? bucketName();
  const storage = await KvStorage.open(conn, { ...options, bucket });
  cleanups.push(async () => {
    await storage.close();
    await destroyBucket(conn, bucket);
  });
  return storage;
}

/** The raw KV bucket behind `storage`, to write what converge never would. */
async function rawBucket(storage: KvStorage, nc?: NatsConnection): Promise<KV> {
  return new Kvm(nc ?? (await sharedConnection())).open(storage.bucket);
}

function capturingLogger() {
  const warnings: unknown[][] = [];
  return { warnings, logger: { warn: (...args: unknown[]) => void warnings.push(args) } };
}

const device = (uid: string, spec: unknown = { n: 1 }): Resource => ({ kind: "Device", uid, spec });

async function rejection(p: Promise<unknown> | (() => unknown)): Promise<unknown> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection, but it resolved");
}

/** Pulls exactly `n` changes, failing after 5 s without one. */
async function take(it: AsyncIterator<StorageChange>, n: number): Promise<StorageChange[]> {
  const out: StorageChange[] = [];
  while (out.length < n) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`change ${out.length + 1} of ${n} did not come within 5 s`)), 5000);
    });
    const result = await Promise.race([it.next(), timeout]).finally(() => clearTimeout(timer));
    if (result.done) throw new Error(`the watch ended after ${out.length} of ${n} changes`);
    out.push(result.value);
  }
  return out;
}

const iterate = (s: Storage, kind?: string, signal?: AbortSignal) => s.watch(kind, { signal })[Symbol.asyncIterator]();

// The contract counts every revision a watch sees. With `history: 1` the
// server drops a key's old revision when the next is written, so a watch whose
// consumer is a moment behind (a busy machine) sees only the later one, as
// documented; 64 keeps each revision the contract writes until it is seen.
storageContract(
  "KvStorage",
  () => openStorage({ history: 64 }),
  async (s) => {
    await s.close();
    await destroyBucket(await sharedConnection(), (s as KvStorage).bucket);
  },
);

describe("KvStorage", () => {
  describe("open", () => {
    it.each([
      [{ bucket: "a.b" }, "options.bucket"],
      [{ bucket: "a b" }, "options.bucket"],
      [{ bucket: "" }, "options.bucket"],
      [{ bucket: "dev.*" }, "options.bucket"],
      [{ bucket: ">" }, "options.bucket"],
      [{ bucket: 7 }, "options.bucket"],
      [{ format: "xml" }, "options.format"],
      [{ history: 0 }, "options.history"],
      [{ history: 65 }, "options.history"],
      [{ replicas: 1.5 }, "options.replicas"],
      [{ loadConcurrency: 0 }, "options.loadConcurrency"],
      [{ timeout: -1 }, "options.timeout"],
      [{ attempts: 0 }, "options.attempts"],
      [{ logger: {} }, "options.logger"],
      [{ bukket: "x" }, "options.bukket"],
    ])("rejects %j naming %s", async (options, path) => {
      const error = await rejection(KvStorage.open(await sharedConnection(), options as KvStorageOptions));
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).path).toBe(path);
    });

    it("rejects something that is not a NatsConnection", async () => {
      const error = await rejection(KvStorage.open({} as NatsConnection));
      expect((error as ValidationError).path).toBe("nc");
    });

    it("creates the bucket with the history asked for, and binds to it when it exists", async () => {
      const s = await openStorage({ history: 3 });
      const status = await (await rawBucket(s)).status();
      expect(status.history).toBe(3);
      const r1 = await s.save("Device", "d1", device("d1"));
      const again = await KvStorage.open(await sharedConnection(), { bucket: s.bucket });
      expect((await again.load("Device", "d1"))?.metadata?.revision).toBe(r1);
      await again.close();
    });
  });

  describe("compare-and-swap", () => {
    it("reports the revision that won in every ConflictError", async () => {
      const s = await openStorage();
      const r1 = await s.save("Device", "d1", device("d1"));
      const r2 = await s.save("Device", "d1", device("d1", { n: 2 }), { expectedRevision: r1 });

      const stale = (await rejection(s.save("Device", "d1", device("d1"), { expectedRevision: r1 }))) as ConflictError;
      expect(stale).toBeInstanceOf(ConflictError);
      expect([stale.expectedRevision, stale.actualRevision]).toEqual([r1, r2]);
      expect(stale.message).toContain(`Device/d1: expected revision ${r1}, found ${r2}`);

      const exists = (await rejection(s.save("Device", "d1", device("d1"), { expectedRevision: 0 }))) as ConflictError;
      expect([exists.expectedRevision, exists.actualRevision]).toEqual([0, r2]);

      const missing = (await rejection(s.save("Device", "d9", device("d9"), { expectedRevision: r2 }))) as ConflictError;
      expect(missing.actualRevision).toBeUndefined();

      const staleDelete = (await rejection(s.delete("Device", "d1", { expectedRevision: r1 }))) as ConflictError;
      expect([staleDelete.expectedRevision, staleDelete.actualRevision]).toEqual([r1, r2]);
      expect((await s.load("Device", "d1"))?.spec).toEqual({ n: 2 });
    });

    it("creates over a delete marker, and a deleted key reports no actual revision", async () => {
      const s = await openStorage();
      const r1 = await s.save("Device", "d1", device("d1"), { expectedRevision: 0 });
      expect(await s.delete("Device", "d1")).toBe(true);
      const missing = (await rejection(s.save("Device", "d1", device("d1"), { expectedRevision: r1 }))) as ConflictError;
      expect(missing).toBeInstanceOf(ConflictError);
      expect(missing.actualRevision).toBeUndefined();
      const r2 = await s.save("Device", "d1", device("d1", { n: 2 }), { expectedRevision: 0 });
      expect(r2).toBeGreaterThan(r1);
      expect(await s.delete("Device", "d1", { expectedRevision: 0 }).catch((e: unknown) => e)).toBeInstanceOf(ConflictError);
      expect((await s.load("Device", "d1"))?.metadata?.revision).toBe(r2);
    });

    it("of many writers racing on one revision, exactly one wins", async () => {
      const s = await openStorage();
      const r1 = await s.save("Device", "d1", device("d1", { n: 0 }));
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => s.save("Device", "d1", device("d1", { n: i + 1 }), { expectedRevision: r1 })),
      );
      const won = results.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
      expect(won).toHaveLength(1);
      for (const r of results) if (r.status === "rejected") expect(r.reason).toBeInstanceOf(ConflictError);
      expect((await s.load("Device", "d1"))?.spec).toEqual({ n: won[0] + 1 });
    });
  });

  describe("retries", () => {
    it("retry a write whose answer was lost with the same message id: applied once, reported once", async () => {
      const nc = await connect({ servers: natsUrl() });
      cleanups.push(() => nc.close());
      const s = await openStorage({ timeout: 250 }, nc);
      const r1 = await s.save("Device", "d1", device("d1"));
      const publish = nc.publish.bind(nc);
      let writes = 0;
      let lost = 0;
      // Every other write reaches the server and is applied, but its answer goes
      // to a subject nobody reads: the write times out and is retried.
      vi.spyOn(nc, "publish").mockImplementation((subject, payload, options) => {
        if (subject.startsWith(`$KV.${s.bucket}.`) && writes++ % 2 === 0) {
          lost++;
          return publish(subject, payload, { ...options, reply: `lost.${process.pid}` });
        }
        return publish(subject, payload, options);
      });
      const lastSequence = async () => (await (await rawBucket(s)).status()).streamInfo.state.last_seq;

      const r2 = await s.save("Device", "d1", device("d1", { n: 2 }), { expectedRevision: r1 });
      expect(await lastSequence()).toBe(r2);
      const r3 = await s.save("Device", "d2", device("d2"), { expectedRevision: 0 });
      expect(await lastSequence()).toBe(r3);
      const r4 = await s.save("Device", "d2", device("d2", { n: 2 }));
      expect(await lastSequence()).toBe(r4);
      expect(await s.delete("Device", "d1", { expectedRevision: r2 })).toBe(true);
      expect(await s.delete("Device", "d2")).toBe(true);
      expect(await lastSequence()).toBe(r4 + 2);
      expect(lost).toBe(5);
      expect(await s.list("Device")).toEqual([]);
    });
  });

  describe("encoding", () => {
    it("stores msgpack without the revision, stamps the entry revision on read", async () => {
      const s = await openStorage();
      const r1 = await s.save("Device", "d1", { ...device("d1", { port: 1 }), metadata: { revision: 999, generation: 2 } });
      const entry = await (await rawBucket(s)).get("Device.d1");
      expect(entry?.revision).toBe(r1);
      expect(decode(entry!.value)).toEqual({ kind: "Device", uid: "d1", spec: { port: 1 }, metadata: { generation: 2 } });
      expect((await s.load("Device", "d1"))?.metadata).toEqual({ generation: 2, revision: r1 });
    });

    it("json format: round-trips and the bytes in the bucket are JSON", async () => {
      const s = await openStorage({ format: "json" });
      const value: Resource = {
        kind: "Device",
        uid: "d1",
        metadata: { labels: { zone: "eu" } },
        spec: { port: 8080, tags: ["a", "b"], nested: { ok: true, none: null } },
        status: { phase: "Ready" },
      };
      const it = iterate(s, "Device");
      const r1 = await s.save("Device", "d1", value);
      const entry = await (await rawBucket(s)).get("Device.d1");
      expect(JSON.parse(entry!.string())).toEqual(value);
      const expected = { ...value, metadata: { labels: { zone: "eu" }, revision: r1 } };
      expect(await s.load("Device", "d1")).toEqual(expected);
      expect(await s.loadAll("Device")).toEqual([expected]);
      expect(await take(it, 1)).toEqual([{ type: "put", kind: "Device", uid: "d1", revision: r1, value: expected }]);
    });
  });

  describe("entries converge did not write", () => {
    it("load rejects naming the key; loadAll, list and watch skip and log them", async () => {
      const { warnings, logger } = capturingLogger();
      const s = await openStorage({ logger });
      const raw = await rawBucket(s);
      const it = iterate(s, "Device");
      const all = iterate(s);
      const good = await s.save("Device", "good", device("good"));
      await raw.put("Device.garbage", new Uint8Array([0xc1, 0x00, 0xff]));
      await raw.put("Device.notResource", new TextEncoder().encode("plain text"));
      await raw.put("Device.otherKind", (await import("@msgpack/msgpack")).encode({ kind: "Switch", uid: "otherKind", spec: {} }));
      await raw.put("Device.bad=uid.extra", new Uint8Array([0x80]));
      await raw.put("foreign", new Uint8Array([0x80]));
      const last = await s.save("Device", "last", device("last"));

      const garbage = await rejection(s.load("Device", "garbage"));
      expect(garbage).toBeInstanceOf(ValidationError);
      expect((garbage as ValidationError).path).toBe(`${s.bucket}["Device.garbage"]`);
      expect((garbage as Error).message).toMatch(/Device\.garbage.*not valid msgpack/);
      const otherKind = (await rejection(s.load("Device", "otherKind"))) as ValidationError;
      expect(otherKind.path).toBe(`${s.bucket}["Device.otherKind"].kind`);
      expect((await rejection(s.load("Device", "notResource"))) as ValidationError).toBeInstanceOf(ValidationError);

      const loaded = await s.loadAll("Device");
      expect(loaded.map((r) => r.uid).sort()).toEqual(["good", "last"]);
      expect((await s.list("Device")).sort()).toEqual(["garbage", "good", "last", "notResource", "otherKind"]);

      // The watch goes on past the unreadable entries.
      const changes = await take(it, 2);
      expect(changes.map((c) => [c.type, c.uid, c.revision])).toEqual([
        ["put", "good", good],
        ["put", "last", last],
      ]);
      expect((await take(all, 2)).map((c) => c.uid)).toEqual(["good", "last"]);

      // (fields, message): the operation and the error are fields.
      const logged = warnings.map((w) => `${(w[0] as { operation: string }).operation} ${((w[0] as { err: Error }).err)?.message}`);
      expect(logged.some((l) => /loadAll.*Device\.garbage/.test(l))).toBe(true);
      expect(logged.some((l) => /watch.*Device\.otherKind/.test(l))).toBe(true);
      expect(logged.some((l) => /watch.*"foreign"/.test(l))).toBe(true);
      expect(warnings.every((w) => (w[0] as { err: unknown }).err instanceof ValidationError)).toBe(true);
    });
  });

  it("loadAll returns every one of 2,000 resources", async () => {
    // loadConcurrency is no longer used, and still accepted.
    const s = await openStorage({ loadConcurrency: 32 });
    const uids = Array.from({ length: 2000 }, (_, i) => `d${i}`);
    const revisions = new Map<string, number>();
    for (let i = 0; i < uids.length; i += 250) {
      await Promise.all(
        uids.slice(i, i + 250).map(async (uid) => revisions.set(uid, await s.save("Device", uid, device(uid, { uid })))),
      );
    }
    await s.save("Switch", "s1", { kind: "Switch", uid: "s1", spec: {} });
    const all = await s.loadAll("Device");
    expect(all).toHaveLength(2000);
    expect(new Set(all.map((r) => r.uid)).size).toBe(2000);
    for (const r of all) {
      expect(r.spec).toEqual({ uid: r.uid });
      expect(r.metadata?.revision).toBe(revisions.get(r.uid));
    }
  });

  it("loadAll gives the latest revision of each key, with history kept, and leaves out deleted and purged keys", async () => {
    const s = await openStorage({ history: 5 });
    const latest = new Map<string, number>();
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 20; i++) latest.set(`d${i}`, await s.save("Device", `d${i}`, device(`d${i}`, { round })));
    }
    await s.delete("Device", "d3");
    await (await rawBucket(s)).purge("Device.d4");
    latest.delete("d3");
    latest.delete("d4");
    const all = await s.loadAll("Device");
    expect(new Map(all.map((r) => [r.uid, r.metadata?.revision]))).toEqual(latest);
    expect(all.every((r) => (r.spec as { round?: number }).round === 2)).toBe(true);
    expect(await s.loadAll("Nothing")).toEqual([]);
  });

  it("loadAll and list catch up with keys rewritten while they read (each old value dropped, history 1)", async () => {
    const s = await openStorage();
    const before = new Map<string, number>();
    await Promise.all(Array.from({ length: 500 }, async (_, i) => before.set(`d${i}`, await s.save("Device", `d${i}`, device(`d${i}`)))));
    // A burst of rewrites and new keys while the read runs: a rewritten key's
    // only message moves past where the reader may already be.
    const duringBurst = async <T>(read: () => Promise<T>, round: number): Promise<T> => {
      const burst = (async () => {
        for (let i = 0; i < 200; i++) {
          const uid = i % 2 === 0 ? `d${i}` : `new${round}_${i}`;
          await s.save("Device", uid, device(uid));
        }
      })();
      const result = await read();
      await burst;
      return result;
    };
    const all = await duringBurst(() => s.loadAll("Device"), 1);
    const loaded = new Map(all.map((r) => [r.uid, r.metadata!.revision!]));
    for (const [uid, revision] of before) expect(loaded.get(uid)).toBeGreaterThanOrEqual(revision);
    const listed = new Set(await duringBurst(() => s.list("Device"), 2));
    for (const uid of before.keys()) expect(listed.has(uid)).toBe(true);
  });

  it("loadAll goes on from where it was when its consumer is deleted under it", async () => {
    const s = await openStorage();
    const revisions = new Map<string, number>();
    for (let i = 0; i < 5000; i += 500) {
      await Promise.all(Array.from({ length: 500 }, async (_, j) => revisions.set(`d${i + j}`, await s.save("Device", `d${i + j}`, device(`d${i + j}`)))));
    }
    const jsm = await jetstreamManager(await sharedConnection());
    const reading = s.loadAll("Device");
    // The reader's consumer is the only one on the bucket: delete it once it exists.
    let deleted = false;
    while (!deleted) {
      for await (const info of jsm.consumers.list(`KV_${s.bucket}`)) {
        deleted = await jsm.consumers.delete(`KV_${s.bucket}`, info.name).catch(() => false);
        break;
      }
      if (!deleted && (await Promise.race([reading.then(() => true), Promise.resolve(false)]))) break;
    }
    const all = await reading;
    expect(new Map(all.map((r) => [r.uid, r.metadata?.revision]))).toEqual(revisions);
  });

  it("loadAll ends while writes keep coming, with every key not written during it", async () => {
    const s = await openStorage();
    const before = new Map<string, number>();
    await Promise.all(Array.from({ length: 500 }, async (_, i) => before.set(`d${i}`, await s.save("Device", `d${i}`, device(`d${i}`)))));
    let writing = true;
    let written = 0;
    const writer = (async () => {
      while (writing) {
        const uid = written % 2 === 0 ? `d${written % 100}` : `new${written}`;
        await s.save("Device", uid, device(uid));
        written++;
      }
    })();
    const all = await s.loadAll("Device");
    writing = false;
    await writer;
    const loaded = new Map(all.map((r) => [r.uid, r.metadata!.revision!]));
    for (let i = 100; i < 500; i++) expect(loaded.get(`d${i}`)).toBe(before.get(`d${i}`));
    expect(written).toBeGreaterThan(0);
  });

  it("rejects every bad kind and uid before anything reaches NATS", async () => {
    const nc = await connect({ servers: natsUrl() });
    cleanups.push(() => nc.close());
    const s = await openStorage({}, nc);
    const request = vi.spyOn(nc, "request");
    const publish = vi.spyOn(nc, "publish");
    const subscribe = vi.spyOn(nc, "subscribe");
    for (const bad of [...BAD_NAMES, "a.b", "*", ">", "dev.>"]) {
      const name = bad as string;
      for (const call of [
        () => s.save(name, "d1", device("d1")),
        () => s.save("Device", name, { kind: "Device", uid: name, spec: {} }),
        () => s.load(name, "d1"),
        () => s.load("Device", name),
        () => s.exists("Device", name),
        () => s.delete("Device", name),
        () => s.delete(name, "d1"),
        () => s.list(name),
        () => s.loadAll(name),
        () => s.watch(name)[Symbol.asyncIterator]().next(),
      ]) {
        const error = await rejection(call);
        expect(error).toBeInstanceOf(ValidationError);
        expect(["kind", "uid"]).toContain((error as ValidationError).path);
      }
    }
    expect(request).not.toHaveBeenCalled();
    expect(publish).not.toHaveBeenCalled();
    expect(subscribe).not.toHaveBeenCalled();
  });

  describe("watch", () => {
    it("sees puts and deletes of other writers, including a purge, with revisions", async () => {
      const s = await openStorage();
      const other = await KvStorage.open(await sharedConnection(), { bucket: s.bucket });
      cleanups.push(() => other.close());
      const it = iterate(s, "Device");
      // Calls through `s` wait for its watch to exist; writes through another storage do not.
      await s.exists("Device", "d1");
      const r1 = await other.save("Device", "d1", device("d1", { n: 1 }));
      const r2 = await other.save("Device", "d2", device("d2", { n: 2 }));
      // Seen before the purge: a purge removes the key's earlier messages, so a
      // watch a moment behind would never get the put (NATS semantics).
      const puts = await take(it, 2);
      expect(await other.delete("Device", "d1")).toBe(true);
      await (await rawBucket(s)).purge("Device.d2");
      const changes = [...puts, ...(await take(it, 2))];
      expect(changes.slice(0, 2)).toEqual([
        { type: "put", kind: "Device", uid: "d1", revision: r1, value: { ...device("d1", { n: 1 }), metadata: { revision: r1 } } },
        { type: "put", kind: "Device", uid: "d2", revision: r2, value: { ...device("d2", { n: 2 }), metadata: { revision: r2 } } },
      ]);
      expect(changes.slice(2).map((c) => [c.type, c.uid])).toEqual([
        ["delete", "d1"],
        ["delete", "d2"],
      ]);
      expect(changes[3].revision).toBeGreaterThan(changes[2].revision);
      expect(changes[2].revision).toBeGreaterThan(r2);
    });

    it("skips, without decoding them, the puts `accept` turns down by key or by revision", async () => {
      const { warnings, logger } = capturingLogger();
      const s = await openStorage({ logger });
      const raw = await rawBucket(s);
      const asked: [string, string, number][] = [];
      let refused = -1;
      const watch = s.watch("Device", {
        accept: (kind, uid, revision) => {
          asked.push([kind, uid, revision]);
          return uid !== "other" && revision !== refused;
        },
      })[Symbol.asyncIterator]();
      await s.exists("Device", "x"); // the watch exists
      // Unreadable bytes under a turned-down key or revision are never decoded: no warning, no invalid entry.
      const other = await raw.put("Device.other", new Uint8Array([0xc1]));
      // Known before the write, as its echo may come before its ack: the stream's next sequence.
      refused = other + 1;
      expect(await raw.put("Device.mine", new Uint8Array([0xc1]))).toBe(refused);
      const wanted = await s.save("Device", "mine", device("mine"), { expectedRevision: refused });
      // A delete needs no decoding: it comes whatever `accept` would say, and it is not asked.
      await raw.delete("Device.other");
      const changes = await take(watch, 2);
      expect(changes.map((c) => [c.type, c.uid])).toEqual([
        ["put", "mine"],
        ["delete", "other"],
      ]);
      expect(changes[0].revision).toBe(wanted);
      expect(asked.map(([, uid, revision]) => [uid, revision])).toEqual([
        ["other", other],
        ["mine", refused],
        ["mine", wanted],
      ]);
      expect(warnings).toEqual([]);
      expect(s.stats().invalidEntries).toBe(0);
    });

    // history 64 where a test writes one key twice and counts both: see the contract's note.
    it("several watchers of different kinds each see their own changes", async () => {
      const s = await openStorage({ history: 64 });
      const watchers = [iterate(s), iterate(s, "Device"), iterate(s, "Switch"), iterate(s, "Device")];
      await s.save("Device", "d1", device("d1"));
      await s.save("Switch", "s1", { kind: "Switch", uid: "s1", spec: {} });
      await s.delete("Device", "d1");
      const [all, dev1, sw, dev2] = await Promise.all([take(watchers[0], 3), take(watchers[1], 2), take(watchers[2], 1), take(watchers[3], 2)]);
      expect(all.map((c) => `${c.type} ${c.kind}/${c.uid}`)).toEqual(["put Device/d1", "put Switch/s1", "delete Device/d1"]);
      expect(dev1).toEqual(dev2);
      expect(dev1.map((c) => c.type)).toEqual(["put", "delete"]);
      expect(sw.map((c) => c.uid)).toEqual(["s1"]);
    });

    it("makes requests issued after watch() wait for its consumer, so a slow watch start misses nothing", async () => {
      const nc = await connect({ servers: natsUrl() });
      cleanups.push(() => nc.close());
      const s = await openStorage({ history: 64 }, nc);
      const request = nc.request.bind(nc);
      // Consumer creation answers late: a write sent at once would be stored before the watch exists.
      vi.spyOn(nc, "request").mockImplementation(async (subject, payload, options) => {
        if (subject.includes(".CONSUMER.CREATE.")) await new Promise((resolve) => setTimeout(resolve, 50));
        return request(subject, payload, options);
      });
      const it = iterate(s, "Device");
      const r1 = await s.save("Device", "d1", device("d1"));
      const r2 = await s.save("Device", "d1", device("d1", { n: 2 }));
      expect((await take(it, 2)).map((c) => c.revision)).toEqual([r1, r2]);
    });

    it("fails with KvWatchError, after the changes before it, when the reader's accept throws", async () => {
      const s = await openStorage();
      const boom = new Error("accept blew up");
      const it = s.watch("Device", {
        accept: (_kind, uid) => {
          if (uid === "bad") throw boom;
          return true;
        },
      })[Symbol.asyncIterator]();
      await s.save("Device", "good", device("good"));
      await s.save("Device", "bad", device("bad"));
      expect((await take(it, 1))[0].uid).toBe("good");
      const error = await rejection(it.next());
      expect(error).toBeInstanceOf(KvWatchError);
      expect((error as Error).cause).toBe(boom);
      expect((await it.next()).done).toBe(true);
    });

    it("fails with KvWatchError when the NATS connection closes under it", async () => {
      const nc = await connect({ servers: natsUrl() });
      const s = await openStorage({}, nc);
      const bucket = s.bucket;
      cleanups.push(async () => destroyBucket(await sharedConnection(), bucket));
      const it = iterate(s);
      await s.save("Device", "d1", device("d1"));
      expect((await take(it, 1))[0].uid).toBe("d1");
      await nc.close();
      const error = await rejection(it.next());
      expect(error).toBeInstanceOf(KvWatchError);
      expect((error as Error).message).toMatch(/connection is closed/);
      expect((await it.next()).done).toBe(true);
    });
  });

  describe("close", () => {
    it("ends watchers, is idempotent, and leaves the NATS connection open", async () => {
      const s = await openStorage();
      const it = iterate(s);
      const pending = it.next();
      await s.close();
      await s.close();
      expect((await pending).done).toBe(true);
      expect(await rejection(s.load("Device", "d1"))).toBeInstanceOf(StorageClosedError);
      const nc = await sharedConnection();
      expect(nc.isClosed()).toBe(false);
      await nc.flush();
    });
  });

  it("save on a bucket the user may not write rejects at once with the server's PermissionViolationError", async () => {
    const server = await NatsServer.start({ config: DENY_CONFIG("$KV.locked.>") });
    cleanups.push(() => server.remove());
    const nc = await connect({ servers: server.url, user: "writer", pass: "pw" });
    cleanups.push(() => nc.close());
    // Long timeouts and many attempts: only the refusal itself can end the save this soon.
    const s = await KvStorage.open(nc, { bucket: "locked", timeout: 60_000, attempts: 10 });
    cleanups.push(() => s.close());
    const refused = await rejection(s.save("Device", "d1", device("d1")));
    expect(refused).toBeInstanceOf(errors.PermissionViolationError);
    expect((refused as Error).message).toContain("$KV.locked.Device.d1");
    expect(await s.load("Device", "d1")).toBeUndefined();
  });

  it("open retries a bucket whose files the server could not create, and opens once it can", async () => {
    const server = await NatsServer.start();
    cleanups.push(() => server.remove());
    const nc = await connect({ servers: server.url });
    cleanups.push(() => nc.close());
    // A file where the bucket's stream directory goes: the server answers only
    // "error creating store for stream" and logs why.
    const streamsDir = join(server.storeDir, "jetstream", "$G", "streams");
    mkdirSync(streamsDir, { recursive: true });
    const blocker = join(streamsDir, "KV_blocked");
    writeFileSync(blocker, "not a directory");
    const opening = KvStorage.open(nc, { bucket: "blocked", attempts: 40 });
    await pollUntil(() => server.problems.some((line) => line.includes("KV_blocked")), "the server's reason for the failed create");
    rmSync(blocker, { force: true });
    const s = await opening;
    cleanups.push(() => s.close());
    await s.save("Device", "d1", device("d1"));
    expect((await s.load("Device", "d1"))?.uid).toBe("d1");
  });

  it("loadAll and list give up with KvUnavailableError while the server is down, and read all again once it is back", async () => {
    const server = await NatsServer.start();
    cleanups.push(() => server.remove());
    const nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 50 });
    cleanups.push(() => nc.close());
    const s = await KvStorage.open(nc, { bucket: "down", timeout: 200, attempts: 2 });
    cleanups.push(() => s.close());
    for (let i = 0; i < 50; i++) await s.save("Device", `d${i}`, device(`d${i}`));

    await server.kill();
    for (const read of [() => s.loadAll("Device"), () => s.list("Device")]) {
      const error = await rejection(read());
      expect(error).toBeInstanceOf(KvUnavailableError);
      expect((error as KvUnavailableError).attempts).toBe(2);
    }
    await server.restart();
    // JetStream takes a moment to serve again after a restart.
    await pollUntil(async () => (await s.loadAll("Device")).length === 50, "loadAll after the restart");
    expect((await s.list("Device")).sort()).toEqual(Array.from({ length: 50 }, (_, i) => `d${i}`).sort());
  });

  it("a watch survives a server crash and restart: nothing lost, nothing twice, in order; writes retry", async () => {
    const server = await NatsServer.start();
    cleanups.push(() => server.remove());
    const nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 50 });
    cleanups.push(() => nc.close());
    const s = await openStorage({ timeout: 1000, attempts: 6 }, nc);
    const impatient = await KvStorage.open(nc, { bucket: s.bucket, timeout: 200, attempts: 2 });
    cleanups.push(() => impatient.close());
    const it = iterate(s, "Device");

    const seen: number[] = [];
    for (let i = 0; i < 5; i++) seen.push(await s.save("Device", `a${i}`, device(`a${i}`)));
    expect((await take(it, 5)).map((c) => c.revision)).toEqual(seen);
    // Acknowledged but maybe not yet delivered to the watch when the server dies.
    const unseen: number[] = [];
    for (let i = 0; i < 5; i++) unseen.push(await s.save("Device", `b${i}`, device(`b${i}`)));

    await server.kill();
    // Issued while the server is down: retried until it answers.
    const during = s.save("Device", "during", device("during"));
    // Bounded: a storage with 2 short attempts gives up, without claiming success.
    const givenUp = await rejection(impatient.save("Switch", "s1", { kind: "Switch", uid: "s1", spec: {} }));
    expect(givenUp).toBeInstanceOf(KvUnavailableError);
    expect((givenUp as KvUnavailableError).attempts).toBe(2);
    await server.restart();

    const duringRevision = await during;
    const after: number[] = [];
    for (let i = 0; i < 5; i++) after.push(await s.save("Device", `c${i}`, device(`c${i}`)));
    const changes = await take(it, 11);
    expect(changes.map((c) => c.revision)).toEqual([...unseen, duringRevision, ...after]);
    expect(changes.map((c) => c.uid)).toEqual(["b0", "b1", "b2", "b3", "b4", "during", "c0", "c1", "c2", "c3", "c4"]);
    expect((await s.load("Device", "during"))?.metadata?.revision).toBe(duringRevision);
    expect((await s.list("Device")).length).toBe(16);
  });
});
