// The Storage promises (DESIGN.md "Public API" and src/storage/storage.ts),
// written once: node:test runs them on Node, Bun and Deno;
// test/contract/storage-contract.ts hands vitest's describe/it to the same function.
import assert from "node:assert/strict";
import * as nodeTest from "node:test";
import { ConflictError, StorageClosedError, ValidationError, type Resource, type Storage, type StorageChange } from "../../../src/index.js";
import { rejection, within } from "../harness.js";
import type { TestApi } from "./event-bus-contract.js";

/** Kinds and uids every backend must refuse: wildcards, subject separators, whitespace, control characters, paths, non-strings. */
export const BAD_NAMES: readonly unknown[] = ["dev.*", "a>b", "a b", "", "\u0001", "../x", 3];

function resource(kind: string, uid: string, spec: unknown = { n: 1 }, extra: Partial<Resource> = {}): Resource {
  return { kind, uid, spec, ...extra };
}

const device = (uid: string, spec?: unknown, extra?: Partial<Resource>) => resource("Device", uid, spec, extra);
const sw = (uid: string, spec?: unknown) => resource("Switch", uid, spec);
const brief = (c: StorageChange) => [c.type, c.kind, c.uid];

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

function expectValidation(error: unknown, path: string | RegExp, what = ""): void {
  assert.ok(error instanceof ValidationError, `${what} expected ValidationError, got ${String(error)}`);
  assert.equal(error.code, "ERR_VALIDATION");
  if (typeof path === "string") assert.equal(error.path, path, what);
  else assert.match(error.path, path, what);
}

function expectConflict(error: unknown, kind: string, uid: string, expectedRevision: number): void {
  assert.ok(error instanceof ConflictError, `expected ConflictError, got ${String(error)}`);
  assert.equal(error.code, "ERR_CONFLICT");
  assert.equal(error.kind, kind);
  assert.equal(error.uid, uid);
  assert.equal(error.expectedRevision, expectedRevision);
}

function expectIncreasing(revisions: number[]): void {
  for (let i = 1; i < revisions.length; i++) assert.ok(revisions[i] > revisions[i - 1], `revisions ${revisions.join(", ")} must grow`);
}

/**
 * Registers the Storage checks. `makeStorage` returns a fresh, EMPTY storage per
 * test; `teardown` (default `close()`) runs after every test, including tests
 * that closed the storage themselves. Revisions are compared by order only.
 */
export function storageContract(
  name: string,
  makeStorage: () => Promise<Storage>,
  teardown: (s: Storage) => Promise<void> = (s) => s.close(),
  api: TestApi = nodeTest as unknown as TestApi,
): void {
  const { describe, it, beforeEach, afterEach } = api;
  describe(`Storage contract: ${name}`, () => {
    let s: Storage;

    beforeEach(async () => {
      s = await makeStorage();
    });

    afterEach(async () => {
      await teardown(s);
    });

    it("round-trips a resource and stamps the revision save returned", async () => {
      const value = device("d1", { port: 8080, tags: ["a", "b"] }, {
        metadata: { generation: 3, ownerUid: "rack-1", labels: { zone: "eu-1" }, finalizers: ["converge.io/cleanup"], annotation: "kept" },
        status: { phase: "Ready", conditions: [] },
      });
      const revision = await s.save("Device", "d1", value);
      assert.ok(revision > 0);
      assert.deepEqual(await s.load("Device", "d1"), { ...value, metadata: { ...value.metadata, revision } });
      assert.equal(await s.exists("Device", "d1"), true);
      // Saved without metadata: load creates it; a revision carried in the value is ignored.
      const r2 = await s.save("Device", "d2", device("d2", {}, { metadata: { revision: 987654 } }));
      assert.deepEqual((await s.load("Device", "d2"))?.metadata, { revision: r2 });
    });

    it("copies in and out: mutating a saved or loaded object never changes the store", async () => {
      const value = device("d1", { nested: { n: 1 } }, { metadata: { labels: { a: "1" } } });
      const before = structuredClone(value);
      await s.save("Device", "d1", value);
      assert.deepEqual(value, before, "save leaves its argument untouched");
      (value.spec as { nested: { n: number } }).nested.n = 2;
      value.metadata!.labels!.a = "2";
      const first = (await s.load("Device", "d1"))!;
      assert.deepEqual(first.spec, { nested: { n: 1 } });
      assert.deepEqual(first.metadata?.labels, { a: "1" });
      (first.spec as { nested: { n: number } }).nested.n = 99;
      first.status = "mutated";
      const [all] = await s.loadAll("Device");
      (all.spec as { nested: { n: number } }).nested.n = 98;
      const again = (await s.load("Device", "d1"))!;
      assert.notEqual(again, first);
      assert.deepEqual(again.spec, { nested: { n: 1 } });
      assert.equal(again.status, undefined);
    });

    it("reports a missing resource as undefined / false / empty", async () => {
      assert.equal(await s.load("Device", "nope"), undefined);
      assert.equal(await s.exists("Device", "nope"), false);
      assert.equal(await s.delete("Device", "nope"), false);
      assert.deepEqual(await s.list("Device"), []);
      assert.deepEqual(await s.loadAll("Device"), []);
    });

    it("revisions grow with every write, across keys and kinds, and after a delete", async () => {
      const r1 = await s.save("Device", "d1", device("d1", { n: 1 }));
      const r2 = await s.save("Device", "d1", device("d1", { n: 2 }));
      const r3 = await s.save("Device", "d2", device("d2"));
      const r4 = await s.save("Switch", "s1", sw("s1"));
      assert.equal(await s.delete("Device", "d1"), true);
      const r5 = await s.save("Device", "d1", device("d1", { n: 3 }));
      expectIncreasing([r1, r2, r3, r4, r5]);
      assert.equal((await s.load("Device", "d1"))?.metadata?.revision, r5);
      assert.equal((await s.load("Device", "d2"))?.metadata?.revision, r3);
    });

    describe("compare-and-swap", () => {
      it("expectedRevision 0 creates, conflicts while the resource exists, creates again after a delete", async () => {
        const r1 = await s.save("Device", "d1", device("d1", { n: 1 }), { expectedRevision: 0 });
        expectConflict(await rejection(s.save("Device", "d1", device("d1", { n: 2 }), { expectedRevision: 0 })), "Device", "d1", 0);
        const loaded = await s.load("Device", "d1");
        assert.deepEqual(loaded?.spec, { n: 1 });
        assert.equal(loaded?.metadata?.revision, r1);
        await s.delete("Device", "d1");
        const r2 = await s.save("Device", "d1", device("d1", { n: 3 }), { expectedRevision: 0 });
        assert.ok(r2 > r1);
      });

      it("succeeds on the current revision", async () => {
        const r1 = await s.save("Device", "d1", device("d1", { n: 1 }));
        const r2 = await s.save("Device", "d1", device("d1", { n: 2 }), { expectedRevision: r1 });
        const r3 = await s.save("Device", "d1", device("d1", { n: 3 }), { expectedRevision: r2 });
        expectIncreasing([r1, r2, r3]);
        assert.deepEqual((await s.load("Device", "d1"))?.spec, { n: 3 });
      });

      it("rejects a stale revision with ConflictError and leaves the stored value unchanged", async () => {
        const r1 = await s.save("Device", "d1", device("d1", { n: 1 }));
        const r2 = await s.save("Device", "d1", device("d1", { n: 2 }), { expectedRevision: r1 });
        expectConflict(await rejection(s.save("Device", "d1", device("d1", { n: 3 }), { expectedRevision: r1 })), "Device", "d1", r1);
        const loaded = await s.load("Device", "d1");
        assert.deepEqual(loaded?.spec, { n: 2 });
        assert.equal(loaded?.metadata?.revision, r2);
      });

      it("rejects an expected revision for a resource that does not exist", async () => {
        const r1 = await s.save("Device", "other", device("other"));
        expectConflict(await rejection(s.save("Device", "d1", device("d1"), { expectedRevision: r1 })), "Device", "d1", r1);
        assert.equal(await s.exists("Device", "d1"), false);
      });

      it("of two writers that read the same revision, exactly one wins", async () => {
        const r1 = await s.save("Device", "d1", device("d1", { n: 0 }));
        const results = await Promise.allSettled([
          s.save("Device", "d1", device("d1", { n: 1 }), { expectedRevision: r1 }),
          s.save("Device", "d1", device("d1", { n: 2 }), { expectedRevision: r1 }),
        ]);
        const won = results.findIndex((r) => r.status === "fulfilled");
        const lost = results.findIndex((r) => r.status === "rejected");
        assert.ok(won >= 0 && lost >= 0, `one must win and one lose: ${results.map((r) => r.status).join(", ")}`);
        expectConflict((results[lost] as PromiseRejectedResult).reason, "Device", "d1", r1);
        assert.deepEqual((await s.load("Device", "d1"))?.spec, { n: won + 1 });
      });
    });

    describe("delete", () => {
      it("removes the resource and resolves true, then false", async () => {
        await s.save("Device", "d1", device("d1"));
        await s.save("Device", "d2", device("d2"));
        assert.equal(await s.delete("Device", "d1"), true);
        assert.equal(await s.load("Device", "d1"), undefined);
        assert.equal(await s.exists("Device", "d1"), false);
        assert.deepEqual(await s.list("Device"), ["d2"]);
        assert.equal(await s.delete("Device", "d1"), false);
      });

      it("with a stale revision rejects with ConflictError and keeps the resource; with the current one removes it", async () => {
        const r1 = await s.save("Device", "d1", device("d1", { n: 1 }));
        const r2 = await s.save("Device", "d1", device("d1", { n: 2 }));
        expectConflict(await rejection(s.delete("Device", "d1", { expectedRevision: r1 })), "Device", "d1", r1);
        assert.equal((await s.load("Device", "d1"))?.metadata?.revision, r2);
        assert.equal(await s.delete("Device", "d1", { expectedRevision: r2 }), true);
        assert.equal(await s.exists("Device", "d1"), false);
        expectConflict(await rejection(s.delete("Device", "d1", { expectedRevision: r2 })), "Device", "d1", r2);
      });
    });

    it("keeps loadAll and list of each kind apart", async () => {
      const rd1 = await s.save("Device", "d1", device("d1", { n: 1 }));
      const rd2 = await s.save("Device", "d2", device("d2", { n: 2 }));
      await s.save("Switch", "s1", sw("s1", { ports: 48 }));
      // Same uid under another kind is another resource.
      await s.save("Switch", "d1", sw("d1", { ports: 24 }));
      assert.deepEqual((await s.list("Device")).sort(), ["d1", "d2"]);
      assert.deepEqual((await s.list("Switch")).sort(), ["d1", "s1"]);
      assert.deepEqual(await s.list("Rack"), []);
      const devices = (await s.loadAll("Device")).sort((a, b) => a.uid.localeCompare(b.uid));
      assert.deepEqual(devices, [
        { kind: "Device", uid: "d1", spec: { n: 1 }, metadata: { revision: rd1 } },
        { kind: "Device", uid: "d2", spec: { n: 2 }, metadata: { revision: rd2 } },
      ]);
      await s.delete("Switch", "d1");
      assert.deepEqual((await s.load("Device", "d1"))?.spec, { n: 1 });
    });

    describe("validation", () => {
      it("rejects a bad kind or uid in every call, naming `kind` or `uid`", async () => {
        for (const bad of BAD_NAMES) {
          const badName = bad as string;
          const label = JSON.stringify(bad);
          for (const call of [
            () => s.save(badName, "d1", device("d1")),
            () => s.load(badName, "d1"),
            () => s.loadAll(badName),
            () => s.list(badName),
            () => s.exists(badName, "d1"),
            () => s.delete(badName, "d1"),
            () => iterate(s.watch(badName)).next(),
          ]) {
            expectValidation(await rejection(call), "kind", `kind ${label}:`);
          }
          for (const call of [
            () => s.save("Device", badName, { kind: "Device", uid: badName, spec: {} }),
            () => s.load("Device", badName),
            () => s.exists("Device", badName),
            () => s.delete("Device", badName),
          ]) {
            expectValidation(await rejection(call), "uid", `uid ${label}:`);
          }
        }
        assert.deepEqual(await s.list("Device"), []);
      });

      it("rejects a resource whose kind or uid differ from the arguments", async () => {
        expectValidation(await rejection(s.save("Device", "d1", sw("d1"))), /kind$/);
        expectValidation(await rejection(s.save("Device", "d1", device("d2"))), /uid$/);
        assert.equal(await s.exists("Device", "d1"), false);
        assert.equal(await s.exists("Switch", "d1"), false);
      });

      it("rejects a value that is not a resource, naming the field", async () => {
        expectValidation(await rejection(s.save("Device", "d1", { kind: "Device", uid: "d1" } as unknown as Resource)), /spec$/);
        const badLabels = device("d1", {}, { metadata: { labels: { zone: 1 as unknown as string } } });
        expectValidation(await rejection(s.save("Device", "d1", badLabels)), /metadata\.labels\.zone$/);
        expectValidation(await rejection(s.save("Device", "d1", null as unknown as Resource)), /.+/);
        assert.equal(await s.exists("Device", "d1"), false);
      });

      it("stores plain JSON data only: refuses at save, naming the path, what no backend gives back as it was", async () => {
        class Port {
          constructor(readonly n: number) {}
        }
        const cases: [string, unknown, string][] = [
          ["a Map", { ports: new Map([["http", 80]]) }, "value.spec.ports"],
          ["a Set", { tags: new Set(["a"]) }, "value.spec.tags"],
          ["a Date", { at: new Date(0) }, "value.spec.at"],
          ["bytes", { blob: new Uint8Array([1, 2]) }, "value.spec.blob"],
          ["a class instance", { port: new Port(80) }, "value.spec.port"],
          ["NaN", { n: Number.NaN }, "value.spec.n"],
          ["an infinity", { list: [1, Infinity] }, "value.spec.list[1]"],
          ["undefined in an array", { list: [1, undefined] }, "value.spec.list[1]"],
          ["a hole in an array", { list: [1, , 3] }, "value.spec.list[1]"],
        ];
        for (const [what, spec, path] of cases) {
          expectValidation(await rejection(s.save("Device", "d1", device("d1", spec))), path, `${what}:`);
          expectValidation(await rejection(s.save("Device", "d1", device("d1", {}, { status: spec }))), path.replace("spec", "status"), `${what} in status:`);
        }
        assert.equal(await s.exists("Device", "d1"), false);
        // What is accepted comes back exactly, shared objects written out in full.
        const shared = { port: 80, names: ["a", "b"] };
        const spec = { a: shared, b: [shared, shared], n: -0.5, big: Number.MAX_SAFE_INTEGER, s: "ü\u0000", t: true, z: null };
        const revision = await s.save("Device", "d1", device("d1", spec));
        assert.deepEqual(await s.load("Device", "d1"), device("d1", structuredClone(spec), { metadata: { revision } }));
      });

      it("refuses a value that shared objects make huge, before encoding it", async () => {
        // 31 objects, 2^30 paths: written out in full it is 2^31 objects.
        let dag: Record<string, unknown> = { leaf: 1 };
        for (let i = 0; i < 30; i++) dag = { l: dag, r: dag };
        const error = await within(rejection(s.save("Device", "d1", device("d1", { dag }))), "the refusal of a huge DAG");
        expectValidation(error, /^value\.spec\.dag(\.[lr])*$/);
        assert.match((error as Error).message, /writes out more than 1000000 values/);
        // A shared array of many items: few objects, many values written.
        const items = Array.from({ length: 300_000 }, (_, i) => i);
        const wide = await within(rejection(s.save("Device", "d1", device("d1", { a: items, b: items, c: items, d: items }))), "the refusal of a wide DAG");
        expectValidation(wide, "value.spec");
        assert.equal(await s.exists("Device", "d1"), false);
      });

      it("rejects prototype-polluting keys", async () => {
        const polluted = JSON.parse('{"kind":"Device","uid":"d1","spec":{"__proto__":{"polluted":true}}}');
        expectValidation(await rejection(s.save("Device", "d1", polluted)), /__proto__/);
        assert.equal(({} as Record<string, unknown>).polluted, undefined);
        assert.equal(await s.exists("Device", "d1"), false);
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
        assert.deepEqual(changes.map(brief), [
          ["put", "Device", "d1"],
          ["put", "Switch", "s1"],
          ["put", "Device", "d1"],
          ["delete", "Device", "d1"],
        ]);
        assert.deepEqual(changes.slice(0, 3).map((c) => c.revision), [r1, r2, r3]);
        expectIncreasing(changes.map((c) => c.revision));
        assert.deepEqual(
          changes.filter((c) => c.type === "put").map((c) => c.value),
          [
            { kind: "Device", uid: "d1", spec: { n: 1 }, metadata: { revision: r1 } },
            { kind: "Switch", uid: "s1", spec: { ports: 8 }, metadata: { revision: r2 } },
            { kind: "Device", uid: "d1", spec: { n: 2 }, metadata: { revision: r3 } },
          ],
        );
      });

      it("keeps many changes in revision order", async () => {
        const it = iterate(s.watch("Device"));
        const revisions: number[] = [];
        for (let i = 0; i < 200; i++) revisions.push(await s.save("Device", `d${i % 7}`, device(`d${i % 7}`, { i })));
        const changes = await take(it, 200);
        assert.deepEqual(changes.map((c) => c.revision), revisions);
        assert.deepEqual(changes.map((c) => (c.type === "put" ? c.value.spec : undefined)), revisions.map((_, i) => ({ i })));
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
        assert.deepEqual((await take(it, 3)).map(brief), [
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
        assert.deepEqual(fromA, fromB);
        const putA = fromA[1] as Extract<StorageChange, { type: "put" }>;
        const putB = fromB[1] as Extract<StorageChange, { type: "put" }>;
        (putA.value.spec as { n: number }).n = 42;
        assert.deepEqual(putB.value.spec, { n: 1 });
        assert.deepEqual((await s.load("Switch", "s1"))?.spec, { n: 1 });
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
        assert.deepEqual(seen.map(brief), [["put", "Device", "d1"]]);
        await s.save("Device", "d3", device("d3"));
        assert.equal((await within(it.next(), "the ended watch")).done, true);
      });

      it("ends a pending pull when its signal aborts, and at once for an aborted signal", async () => {
        const controller = new AbortController();
        const it = iterate(s.watch(undefined, { signal: controller.signal }));
        const pending = it.next();
        controller.abort();
        assert.equal((await within(pending, "the aborted pull")).done, true);
        const pre = iterate(s.watch(undefined, { signal: AbortSignal.abort() }));
        await s.save("Device", "d1", device("d1"));
        assert.equal((await within(it.next(), "the aborted watch")).done, true);
        assert.equal((await within(pre.next(), "the pre-aborted watch")).done, true);
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
        assert.ok(seen.length >= 1);
        assert.deepEqual(brief(seen[0]), ["put", "Device", "d1"]);
      });
    });

    describe("close", () => {
      it("ends watchers", async () => {
        const all = iterate(s.watch());
        const devices = iterate(s.watch("Device"));
        const pendingAll = all.next();
        await s.save("Device", "d1", device("d1"));
        assert.deepEqual(brief((await within(pendingAll, "the first change")).value as StorageChange), ["put", "Device", "d1"]);
        // Observed before close() is awaited: the watch ends while close() still tidies up.
        const devicesEnded = rejection(within(take(devices, 2), "the closed watch"));
        await s.close();
        assert.match(String(await devicesEnded), /ended after/);
        assert.equal((await within(all.next(), "the closed watch")).done, true);
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
          assert.ok(error instanceof StorageClosedError, `expected StorageClosedError, got ${String(error)}`);
          assert.equal(error.code, "ERR_STORAGE_CLOSED");
        }
      });
    });
  });
}
