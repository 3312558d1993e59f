import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ValidationError } from "../../src/codec/errors.js";
import { ConflictError, StorageClosedError } from "../../src/storage/errors.js";
import type { Resource } from "../../src/storage/resource.js";
import type { Storage, StorageChange } from "../../src/storage/storage.js";

/** Kinds and uids every backend must refuse: wildcards, subject separators, whitespace, control characters, paths, non-strings. */
export const BAD_NAMES: readonly unknown[] = ["dev.*", "a>b", "a b", "", "\u0001", "../x", 3];

const WATCH_TIMEOUT_MS = 5000;

function resource(kind: string, uid: string, spec: unknown = { n: 1 }, extra: Partial<Resource> = {}): Resource {
  return { kind, uid, spec, ...extra };
}

const device = (uid: string, spec?: unknown, extra?: Partial<Resource>) => resource("Device", uid, spec, extra);
const sw = (uid: string, spec?: unknown) => resource("Switch", uid, spec);

/** The rejection reason of `p` (or of a function that throws or returns a rejecting promise). */
async function rejection(p: Promise<unknown> | (() => unknown)): Promise<unknown> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection, but it resolved");
}

/** Resolves with `p`, or fails the test when it takes longer than the watch timeout. */
async function within<T>(p: Promise<T>, what = "the watch"): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${WATCH_TIMEOUT_MS} ms`)), WATCH_TIMEOUT_MS);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Pulls exactly `n` changes from `it` (the iterator stays open for more). */
async function take(it: AsyncIterator<StorageChange>, n: number): Promise<StorageChange[]> {
  const out: StorageChange[] = [];
  while (out.length < n) {
    const result = await within(it.next(), `change ${out.length + 1} of ${n}`);
    if (result.done) throw new Error(`the watch ended after ${out.length} of ${n} changes`);
    out.push(result.value);
  }
  return out;
}

function iterate(iterable: AsyncIterable<StorageChange>): AsyncIterator<StorageChange> {
  return iterable[Symbol.asyncIterator]();
}

function expectValidation(error: unknown, path: string | RegExp): void {
  expect(error).toBeInstanceOf(ValidationError);
  const e = error as ValidationError;
  expect(e.code).toBe("ERR_VALIDATION");
  if (typeof path === "string") expect(e.path).toBe(path);
  else expect(e.path).toMatch(path);
}

function expectConflict(error: unknown, kind: string, uid: string, expectedRevision: number): void {
  expect(error).toBeInstanceOf(ConflictError);
  const e = error as ConflictError;
  expect(e.code).toBe("ERR_CONFLICT");
  expect(e.kind).toBe(kind);
  expect(e.uid).toBe(uid);
  expect(e.expectedRevision).toBe(expectedRevision);
}

function expectIncreasing(revisions: number[]): void {
  for (let i = 1; i < revisions.length; i++) expect(revisions[i]).toBeGreaterThan(revisions[i - 1]);
}

const brief = (c: StorageChange) => [c.type, c.kind, c.uid];

/**
 * The behaviour every `Storage` backend must have. `makeStorage` returns a fresh,
 * EMPTY storage per test; `teardown` (default: `close()`) runs after every test,
 * including tests that closed the storage themselves.
 * Only what the `Storage` interface promises is asserted: revisions are compared
 * by order, never by value.
 */
export function storageContract(
  name: string,
  makeStorage: () => Promise<Storage>,
  teardown: (s: Storage) => Promise<void> = (s) => s.close(),
): void {
  describe(`Storage contract: ${name}`, () => {
    let s: Storage;

    beforeEach(async () => {
      s = await makeStorage();
    });

    afterEach(async () => {
      await teardown(s);
    });

    describe("save and load", () => {
      it("round-trips a resource and stamps the revision save returned", async () => {
        const value = device("d1", { port: 8080, tags: ["a", "b"] }, {
          metadata: {
            generation: 3,
            ownerUid: "rack-1",
            labels: { zone: "eu-1" },
            finalizers: ["converge.io/cleanup"],
            deletedAt: "2024-05-01T10:00:00.000Z",
            annotation: "kept",
          },
          status: { phase: "Ready", conditions: [] },
        });
        const revision = await s.save("Device", "d1", value);
        expect(revision).toBeGreaterThan(0);
        const loaded = await s.load("Device", "d1");
        expect(loaded).toEqual({ ...value, metadata: { ...value.metadata, revision } });
        expect(await s.exists("Device", "d1")).toBe(true);
      });

      it("creates metadata on load for a resource saved without it", async () => {
        const revision = await s.save("Device", "d1", device("d1"));
        expect((await s.load("Device", "d1"))?.metadata).toEqual({ revision });
      });

      it("ignores a revision carried in the saved value: the store's revision wins", async () => {
        const revision = await s.save("Device", "d1", device("d1", {}, { metadata: { revision: 987654 } }));
        expect((await s.load("Device", "d1"))?.metadata?.revision).toBe(revision);
      });

      it("copies in: mutating the saved object afterwards does not change the store, and save leaves it untouched", async () => {
        const value = device("d1", { nested: { n: 1 } }, { metadata: { labels: { a: "1" } } });
        const before = structuredClone(value);
        await s.save("Device", "d1", value);
        expect(value).toEqual(before);
        (value.spec as { nested: { n: number } }).nested.n = 2;
        value.metadata!.labels!.a = "2";
        const loaded = await s.load("Device", "d1");
        expect(loaded?.spec).toEqual({ nested: { n: 1 } });
        expect(loaded?.metadata?.labels).toEqual({ a: "1" });
      });

      it("copies out: mutating a loaded resource does not change the store", async () => {
        await s.save("Device", "d1", device("d1", { nested: { n: 1 } }));
        const first = (await s.load("Device", "d1"))!;
        (first.spec as { nested: { n: number } }).nested.n = 99;
        first.status = "mutated";
        first.metadata!.revision = 0;
        const all = await s.loadAll("Device");
        (all[0].spec as { nested: { n: number } }).nested.n = 98;
        const again = (await s.load("Device", "d1"))!;
        expect(again).not.toBe(first);
        expect(again.spec).toEqual({ nested: { n: 1 } });
        expect(again.status).toBeUndefined();
        expect(again.metadata!.revision).toBeGreaterThan(0);
      });

      it("reports a missing resource as undefined / false", async () => {
        expect(await s.load("Device", "nope")).toBeUndefined();
        expect(await s.exists("Device", "nope")).toBe(false);
        expect(await s.delete("Device", "nope")).toBe(false);
        expect(await s.list("Device")).toEqual([]);
        expect(await s.loadAll("Device")).toEqual([]);
      });
    });

    describe("revisions", () => {
      it("grow with every write, across keys and kinds, and after a delete", async () => {
        const r1 = await s.save("Device", "d1", device("d1", { n: 1 }));
        const r2 = await s.save("Device", "d1", device("d1", { n: 2 }));
        const r3 = await s.save("Device", "d2", device("d2"));
        const r4 = await s.save("Switch", "s1", sw("s1"));
        expect(await s.delete("Device", "d1")).toBe(true);
        const r5 = await s.save("Device", "d1", device("d1", { n: 3 }));
        expectIncreasing([r1, r2, r3, r4, r5]);
        expect((await s.load("Device", "d1"))?.metadata?.revision).toBe(r5);
        expect((await s.load("Device", "d2"))?.metadata?.revision).toBe(r3);
      });
    });

    describe("compare-and-swap", () => {
      it("expectedRevision 0 creates, then conflicts while the resource exists", async () => {
        const r1 = await s.save("Device", "d1", device("d1", { n: 1 }), { expectedRevision: 0 });
        const error = await rejection(s.save("Device", "d1", device("d1", { n: 2 }), { expectedRevision: 0 }));
        expectConflict(error, "Device", "d1", 0);
        const loaded = await s.load("Device", "d1");
        expect(loaded?.spec).toEqual({ n: 1 });
        expect(loaded?.metadata?.revision).toBe(r1);
      });

      it("expectedRevision 0 creates again after a delete", async () => {
        const r1 = await s.save("Device", "d1", device("d1"), { expectedRevision: 0 });
        await s.delete("Device", "d1");
        const r2 = await s.save("Device", "d1", device("d1", { n: 2 }), { expectedRevision: 0 });
        expect(r2).toBeGreaterThan(r1);
        expect((await s.load("Device", "d1"))?.spec).toEqual({ n: 2 });
      });

      it("succeeds on the current revision", async () => {
        const r1 = await s.save("Device", "d1", device("d1", { n: 1 }));
        const r2 = await s.save("Device", "d1", device("d1", { n: 2 }), { expectedRevision: r1 });
        expect(r2).toBeGreaterThan(r1);
        const r3 = await s.save("Device", "d1", device("d1", { n: 3 }), { expectedRevision: r2 });
        expect(r3).toBeGreaterThan(r2);
        expect((await s.load("Device", "d1"))?.spec).toEqual({ n: 3 });
      });

      it("rejects a stale revision with ConflictError and leaves the stored value unchanged", async () => {
        const r1 = await s.save("Device", "d1", device("d1", { n: 1 }));
        const r2 = await s.save("Device", "d1", device("d1", { n: 2 }), { expectedRevision: r1 });
        const error = await rejection(s.save("Device", "d1", device("d1", { n: 3 }), { expectedRevision: r1 }));
        expectConflict(error, "Device", "d1", r1);
        const loaded = await s.load("Device", "d1");
        expect(loaded?.spec).toEqual({ n: 2 });
        expect(loaded?.metadata?.revision).toBe(r2);
      });

      it("rejects an expected revision for a resource that does not exist", async () => {
        const r1 = await s.save("Device", "other", device("other"));
        const error = await rejection(s.save("Device", "d1", device("d1"), { expectedRevision: r1 }));
        expectConflict(error, "Device", "d1", r1);
        expect(await s.exists("Device", "d1")).toBe(false);
      });

      it("of two writers that read the same revision, exactly one wins", async () => {
        const r1 = await s.save("Device", "d1", device("d1", { n: 0 }));
        const results = await Promise.allSettled([
          s.save("Device", "d1", device("d1", { n: 1 }), { expectedRevision: r1 }),
          s.save("Device", "d1", device("d1", { n: 2 }), { expectedRevision: r1 }),
        ]);
        const won = results.findIndex((r) => r.status === "fulfilled");
        const lost = results.findIndex((r) => r.status === "rejected");
        expect(won).toBeGreaterThanOrEqual(0);
        expect(lost).toBeGreaterThanOrEqual(0);
        expectConflict((results[lost] as PromiseRejectedResult).reason, "Device", "d1", r1);
        expect((await s.load("Device", "d1"))?.spec).toEqual({ n: won + 1 });
      });
    });

    describe("delete", () => {
      it("removes the resource and resolves true, then false", async () => {
        await s.save("Device", "d1", device("d1"));
        await s.save("Device", "d2", device("d2"));
        expect(await s.delete("Device", "d1")).toBe(true);
        expect(await s.load("Device", "d1")).toBeUndefined();
        expect(await s.exists("Device", "d1")).toBe(false);
        expect(await s.list("Device")).toEqual(["d2"]);
        expect(await s.delete("Device", "d1")).toBe(false);
      });

      it("with a stale revision rejects with ConflictError and keeps the resource", async () => {
        const r1 = await s.save("Device", "d1", device("d1", { n: 1 }));
        const r2 = await s.save("Device", "d1", device("d1", { n: 2 }));
        const error = await rejection(s.delete("Device", "d1", { expectedRevision: r1 }));
        expectConflict(error, "Device", "d1", r1);
        const loaded = await s.load("Device", "d1");
        expect(loaded?.spec).toEqual({ n: 2 });
        expect(loaded?.metadata?.revision).toBe(r2);
      });

      it("with the current revision removes the resource", async () => {
        const r1 = await s.save("Device", "d1", device("d1"));
        expect(await s.delete("Device", "d1", { expectedRevision: r1 })).toBe(true);
        expect(await s.exists("Device", "d1")).toBe(false);
      });

      it("with an expected revision of a resource that does not exist rejects with ConflictError", async () => {
        const r1 = await s.save("Device", "d1", device("d1"));
        await s.delete("Device", "d1");
        expectConflict(await rejection(s.delete("Device", "d1", { expectedRevision: r1 })), "Device", "d1", r1);
      });
    });

    describe("kinds", () => {
      it("keeps loadAll and list of each kind apart", async () => {
        const rd1 = await s.save("Device", "d1", device("d1", { n: 1 }));
        const rd2 = await s.save("Device", "d2", device("d2", { n: 2 }));
        const rs1 = await s.save("Switch", "s1", sw("s1", { ports: 48 }));
        // Same uid under another kind is another resource.
        const rs2 = await s.save("Switch", "d1", sw("d1", { ports: 24 }));

        expect((await s.list("Device")).sort()).toEqual(["d1", "d2"]);
        expect((await s.list("Switch")).sort()).toEqual(["d1", "s1"]);
        expect(await s.list("Rack")).toEqual([]);

        const devices = (await s.loadAll("Device")).sort((a, b) => a.uid.localeCompare(b.uid));
        expect(devices).toEqual([
          { kind: "Device", uid: "d1", spec: { n: 1 }, metadata: { revision: rd1 } },
          { kind: "Device", uid: "d2", spec: { n: 2 }, metadata: { revision: rd2 } },
        ]);
        const switches = (await s.loadAll("Switch")).sort((a, b) => a.uid.localeCompare(b.uid));
        expect(switches.map((r) => [r.kind, r.uid, r.spec, r.metadata?.revision])).toEqual([
          ["Switch", "d1", { ports: 24 }, rs2],
          ["Switch", "s1", { ports: 48 }, rs1],
        ]);
        expect(await s.loadAll("Rack")).toEqual([]);

        await s.delete("Switch", "d1");
        expect((await s.load("Device", "d1"))?.spec).toEqual({ n: 1 });
      });
    });

    describe("validation", () => {
      describe.each(BAD_NAMES.map((bad) => [JSON.stringify(bad), bad] as const))("name %s", (_, bad) => {
        const badName = bad as string;

        it("is rejected as a kind by every call, naming `kind`", async () => {
          const value = device("d1");
          for (const call of [
            () => s.save(badName, "d1", value),
            () => s.load(badName, "d1"),
            () => s.loadAll(badName),
            () => s.list(badName),
            () => s.exists(badName, "d1"),
            () => s.delete(badName, "d1"),
            () => iterate(s.watch(badName)).next(),
          ]) {
            expectValidation(await rejection(call), "kind");
          }
        });

        it("is rejected as a uid by every call, naming `uid`", async () => {
          for (const call of [
            () => s.save("Device", badName, { kind: "Device", uid: badName, spec: {} }),
            () => s.load("Device", badName),
            () => s.exists("Device", badName),
            () => s.delete("Device", badName),
          ]) {
            expectValidation(await rejection(call), "uid");
          }
          expect(await s.list("Device")).toEqual([]);
        });
      });

      it("rejects a resource whose kind or uid differ from the arguments", async () => {
        expectValidation(await rejection(s.save("Device", "d1", sw("d1"))), /kind$/);
        expectValidation(await rejection(s.save("Device", "d1", device("d2"))), /uid$/);
        expect(await s.exists("Device", "d1")).toBe(false);
        expect(await s.exists("Device", "d2")).toBe(false);
        expect(await s.exists("Switch", "d1")).toBe(false);
      });

      it("rejects a value that is not a resource, naming the field", async () => {
        const noSpec = { kind: "Device", uid: "d1" } as unknown as Resource;
        expectValidation(await rejection(s.save("Device", "d1", noSpec)), /spec$/);
        const badLabels = device("d1", {}, { metadata: { labels: { zone: 1 as unknown as string } } });
        expectValidation(await rejection(s.save("Device", "d1", badLabels)), /metadata\.labels\.zone$/);
        expectValidation(await rejection(s.save("Device", "d1", null as unknown as Resource)), /.+/);
        expect(await s.exists("Device", "d1")).toBe(false);
      });

      it("rejects prototype-polluting keys", async () => {
        const polluted = JSON.parse('{"kind":"Device","uid":"d1","spec":{"__proto__":{"polluted":true}}}');
        expectValidation(await rejection(s.save("Device", "d1", polluted)), /__proto__/);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        expect(await s.exists("Device", "d1")).toBe(false);
      });
    });

    describe("watch", () => {
      it("sees puts and deletes made after the call, in order, with values", async () => {
        await s.save("Device", "before", device("before"));
        const it = iterate(s.watch());
        const r1 = await s.save("Device", "d1", device("d1", { n: 1 }));
        const r2 = await s.save("Switch", "s1", sw("s1", { ports: 8 }));
        const r3 = await s.save("Device", "d1", device("d1", { n: 2 }));
        await s.delete("Device", "d1");

        const changes = await take(it, 4);
        expect(changes.map(brief)).toEqual([
          ["put", "Device", "d1"],
          ["put", "Switch", "s1"],
          ["put", "Device", "d1"],
          ["delete", "Device", "d1"],
        ]);
        expect(changes.slice(0, 3).map((c) => c.revision)).toEqual([r1, r2, r3]);
        expectIncreasing(changes.map((c) => c.revision));
        const puts = changes.filter((c) => c.type === "put");
        expect(puts.map((c) => c.value)).toEqual([
          { kind: "Device", uid: "d1", spec: { n: 1 }, metadata: { revision: r1 } },
          { kind: "Switch", uid: "s1", spec: { ports: 8 }, metadata: { revision: r2 } },
          { kind: "Device", uid: "d1", spec: { n: 2 }, metadata: { revision: r3 } },
        ]);
      });

      it("keeps many changes in revision order", async () => {
        const it = iterate(s.watch("Device"));
        const revisions: number[] = [];
        for (let i = 0; i < 200; i++) revisions.push(await s.save("Device", `d${i % 7}`, device(`d${i % 7}`, { i })));
        const changes = await take(it, 200);
        expect(changes.map((c) => c.revision)).toEqual(revisions);
        expect(changes.map((c) => (c.type === "put" ? c.value.spec : undefined))).toEqual(
          revisions.map((_, i) => ({ i })),
        );
      });

      it("filtered by kind sees only that kind", async () => {
        const it = iterate(s.watch("Device"));
        await s.save("Switch", "s1", sw("s1"));
        await s.save("Device", "d1", device("d1"));
        await s.save("Switch", "d2", sw("d2"));
        await s.delete("Switch", "s1");
        await s.save("Device", "d2", device("d2"));
        await s.delete("Switch", "d2");
        await s.delete("Device", "d1");
        // The last write is a Device one: a leaked Switch change would show among these three.
        const changes = await take(it, 3);
        expect(changes.map(brief)).toEqual([
          ["put", "Device", "d1"],
          ["put", "Device", "d2"],
          ["delete", "Device", "d1"],
        ]);
      });

      it("delivers every change to each of two watchers, each with its own copy", async () => {
        const a = iterate(s.watch());
        const b = iterate(s.watch());
        await s.save("Device", "d1", device("d1", { n: 1 }));
        await s.save("Switch", "s1", sw("s1"));
        await s.delete("Device", "d1");
        const fromA = await take(a, 3);
        const fromB = await take(b, 3);
        expect(fromA).toEqual(fromB);
        expect(fromA.map(brief)).toEqual([
          ["put", "Device", "d1"],
          ["put", "Switch", "s1"],
          ["delete", "Device", "d1"],
        ]);
        const putA = fromA[1] as Extract<StorageChange, { type: "put" }>;
        const putB = fromB[1] as Extract<StorageChange, { type: "put" }>;
        (putA.value.spec as { n: number }).n = 42;
        expect(putB.value.spec).toEqual({ n: 1 });
        expect((await s.load("Switch", "s1"))?.spec).toEqual({ n: 1 });
      });

      it("ends when the consumer breaks out of for-await", async () => {
        const it = iterate(s.watch());
        await s.save("Device", "d1", device("d1"));
        await s.save("Device", "d2", device("d2"));
        const seen: StorageChange[] = [];
        for await (const change of { [Symbol.asyncIterator]: () => it }) {
          seen.push(change);
          break;
        }
        expect(seen.map(brief)).toEqual([["put", "Device", "d1"]]);
        await s.save("Device", "d3", device("d3"));
        expect((await within(it.next())).done).toBe(true);
      });

      it("ends a pending pull when its signal aborts", async () => {
        const controller = new AbortController();
        const it = iterate(s.watch(undefined, { signal: controller.signal }));
        const pending = it.next();
        controller.abort();
        expect((await within(pending)).done).toBe(true);
        await s.save("Device", "d1", device("d1"));
        expect((await within(it.next())).done).toBe(true);
      });

      it("ends a for-await loop that aborts its own signal", async () => {
        const controller = new AbortController();
        const watch = s.watch("Device", { signal: controller.signal });
        const consumed = (async () => {
          const seen: StorageChange[] = [];
          for await (const change of watch) {
            seen.push(change);
            controller.abort();
          }
          return seen;
        })();
        await s.save("Device", "d1", device("d1"));
        await s.save("Device", "d2", device("d2"));
        const seen = await within(consumed, "the aborted watch");
        expect(seen.length).toBeGreaterThanOrEqual(1);
        expect(brief(seen[0])).toEqual(["put", "Device", "d1"]);
      });

      it("with an already aborted signal ends at once", async () => {
        const it = iterate(s.watch(undefined, { signal: AbortSignal.abort() }));
        await s.save("Device", "d1", device("d1"));
        expect((await within(it.next())).done).toBe(true);
      });
    });

    describe("close", () => {
      it("ends watchers", async () => {
        const all = iterate(s.watch());
        const devices = iterate(s.watch("Device"));
        const pendingAll = all.next();
        await s.save("Device", "d1", device("d1"));
        expect(brief((await within(pendingAll)).value as StorageChange)).toEqual(["put", "Device", "d1"]);
        const pendingDevices = take(devices, 2);
        await s.close();
        await expect(within(pendingDevices)).rejects.toThrow(/ended after/);
        expect((await within(all.next())).done).toBe(true);
      });

      it("makes every later call reject with StorageClosedError", async () => {
        await s.save("Device", "d1", device("d1"));
        await s.close();
        for (const call of [
          () => s.load("Device", "d1"),
          () => s.loadAll("Device"),
          () => s.list("Device"),
          () => s.exists("Device", "d1"),
          () => s.save("Device", "d2", device("d2")),
          () => s.delete("Device", "d1"),
          () => iterate(s.watch()).next(),
        ]) {
          const error = await rejection(call);
          expect(error).toBeInstanceOf(StorageClosedError);
          expect((error as StorageClosedError).code).toBe("ERR_STORAGE_CLOSED");
        }
      });
    });
  });
}
