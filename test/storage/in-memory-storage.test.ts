import { describe, expect, it } from "vitest";
import { ValidationError } from "../../src/codec/errors.js";
import { ConflictError } from "../../src/storage/errors.js";
import { InMemoryStorage } from "../../src/storage/in-memory-storage.js";
import type { Resource } from "../../src/storage/resource.js";
import type { StorageChange } from "../../src/storage/storage.js";
import { storageContract } from "../contract/storage-contract.js";

storageContract("InMemoryStorage", async () => new InMemoryStorage());

const device = (uid: string, spec: unknown = {}): Resource => ({ kind: "Device", uid, spec });

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

describe("InMemoryStorage", () => {
  it("numbers every put and delete from one counter, like a KV stream sequence", async () => {
    const s = new InMemoryStorage();
    expect(await s.save("Device", "d1", device("d1"))).toBe(1);
    expect(await s.save("Switch", "s1", { kind: "Switch", uid: "s1", spec: {} })).toBe(2);
    expect(await s.delete("Device", "d1")).toBe(true);
    expect(await s.delete("Device", "d1")).toBe(false); // nothing deleted, no revision taken
    expect(await s.save("Device", "d1", device("d1"))).toBe(4);
  });

  it("reports the actual revision in a ConflictError", async () => {
    const s = new InMemoryStorage();
    const r1 = await s.save("Device", "d1", device("d1"));
    const r2 = await s.save("Device", "d1", device("d1"));
    const stale = (await rejection(s.save("Device", "d1", device("d1"), { expectedRevision: r1 }))) as ConflictError;
    expect(stale).toBeInstanceOf(ConflictError);
    expect(stale.actualRevision).toBe(r2);
    expect(stale.message).toContain(`Device/d1: expected revision ${r1}, found ${r2}`);
    const exists = (await rejection(s.save("Device", "d1", device("d1"), { expectedRevision: 0 }))) as ConflictError;
    expect(exists.actualRevision).toBe(r2);
    const missing = (await rejection(s.save("Device", "d9", device("d9"), { expectedRevision: r2 }))) as ConflictError;
    expect(missing.actualRevision).toBeUndefined();
  });

  it("delete with expectedRevision 0 of a missing resource resolves false; of a present one conflicts", async () => {
    const s = new InMemoryStorage();
    expect(await s.delete("Device", "d1", { expectedRevision: 0 })).toBe(false);
    await s.save("Device", "d1", device("d1"));
    expect(await rejection(s.delete("Device", "d1", { expectedRevision: 0 }))).toBeInstanceOf(ConflictError);
    expect(await s.exists("Device", "d1")).toBe(true);
  });

  it.each([-1, 1.5, Number.NaN, "3", null])("rejects expectedRevision %j", async (bad) => {
    const s = new InMemoryStorage();
    const options = { expectedRevision: bad as number };
    for (const error of [
      await rejection(s.save("Device", "d1", device("d1"), options)),
      await rejection(s.delete("Device", "d1", options)),
    ]) {
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).path).toBe("options.expectedRevision");
    }
  });

  it("rejects a value that cannot be copied with a ValidationError naming where", async () => {
    const s = new InMemoryStorage();
    const error = await rejection(s.save("Device", "d1", device("d1", { weak: new WeakMap() })));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).path).toBe("value.spec.weak");
    expect(await s.exists("Device", "d1")).toBe(false);
  });

  it("names the mismatching field and both values", async () => {
    const s = new InMemoryStorage();
    const error = (await rejection(s.save("Device", "d1", device("d2")))) as ValidationError;
    expect(error.path).toBe("value.uid");
    expect(error.message).toBe('value.uid: "d2" does not match the uid argument "d1"');
  });

  it("lets a watcher that never reads buffer 10,000 changes without slowing writers, then delivers them in order", async () => {
    const s = new InMemoryStorage();
    const it = s.watch()[Symbol.asyncIterator]();
    const revisions: number[] = [];
    // Every save resolves while the watcher has read nothing.
    for (let i = 0; i < 10_000; i++) revisions.push(await s.save("Device", `d${i}`, device(`d${i}`, { i })));
    for (let i = 0; i < 10_000; i++) {
      const { done, value } = (await it.next()) as IteratorYieldResult<StorageChange>;
      expect(done).toBe(false);
      if (value.type !== "put" || value.uid !== `d${i}` || value.revision !== revisions[i]) {
        expect.fail(`change ${i} was ${JSON.stringify(value)}`);
      }
      if ((value.value.spec as { i: number }).i !== i) expect.fail(`change ${i} carried ${JSON.stringify(value.value)}`);
    }
    await s.close();
    expect((await it.next()).done).toBe(true);
  });

  it("delivers the value as it was at each change's revision", async () => {
    const s = new InMemoryStorage();
    const it = s.watch("Device")[Symbol.asyncIterator]();
    await s.save("Device", "d1", device("d1", { n: 1 }));
    await s.save("Device", "d1", device("d1", { n: 2 }));
    const specs = [];
    for (let i = 0; i < 2; i++) {
      const { value } = (await it.next()) as IteratorYieldResult<StorageChange>;
      specs.push(value.type === "put" ? value.value.spec : undefined);
    }
    expect(specs).toEqual([{ n: 1 }, { n: 2 }]);
    await s.close();
  });

  it("answers concurrent pulls in order", async () => {
    const s = new InMemoryStorage();
    const it = s.watch()[Symbol.asyncIterator]();
    const pulls = [it.next(), it.next(), it.next()];
    await s.save("Device", "d1", device("d1"));
    await s.save("Device", "d2", device("d2"));
    await s.close();
    const results = await Promise.all(pulls);
    expect(results.map((r) => (r.done ? "done" : r.value.uid))).toEqual(["d1", "d2", "done"]);
  });

  it("stops buffering for a watcher once it ended", async () => {
    const s = new InMemoryStorage();
    const controller = new AbortController();
    const it = s.watch(undefined, { signal: controller.signal })[Symbol.asyncIterator]();
    await s.save("Device", "d1", device("d1"));
    controller.abort();
    // Buffered-but-unread changes are dropped with the watcher.
    expect((await it.next()).done).toBe(true);
    await s.save("Device", "d2", device("d2"));
    expect((await it.next()).done).toBe(true);
    expect(await it.return!()).toEqual({ done: true, value: undefined });
  });

  it("a watch returned after close rejects once, then is done", async () => {
    const s = new InMemoryStorage();
    await s.close();
    const it = s.watch()[Symbol.asyncIterator]();
    await expect(it.next()).rejects.toMatchObject({ code: "ERR_STORAGE_CLOSED" });
    expect((await it.next()).done).toBe(true);
  });

  it("close is idempotent", async () => {
    const s = new InMemoryStorage();
    await s.close();
    await expect(s.close()).resolves.toBeUndefined();
  });

  it("a signal that aborts after close does no harm", async () => {
    const s = new InMemoryStorage();
    const controller = new AbortController();
    const it = s.watch("Device", { signal: controller.signal })[Symbol.asyncIterator]();
    await s.close();
    controller.abort();
    expect((await it.next()).done).toBe(true);
  });

  it("hands a reader that shares values the stored value itself, and every other reader a copy", async () => {
    const s = new InMemoryStorage();
    const revision = await s.save("Device", "d1", device("d1", { n: 1 }));
    const [sharedA] = await s.loadAll("Device", { shareValues: true });
    const [sharedB] = await s.loadAll("Device", { shareValues: true });
    const [copy] = await s.loadAll("Device");
    expect(sharedA).toBe(sharedB);
    expect(copy).not.toBe(sharedA);
    expect(sharedA).toEqual({ kind: "Device", uid: "d1", spec: { n: 1 }, metadata: { revision } });
    expect(copy).toEqual(sharedA);

    const sharing = s.watch("Device", { shareValues: true })[Symbol.asyncIterator]();
    const copying = s.watch("Device")[Symbol.asyncIterator]();
    const next = await s.save("Device", "d1", device("d1", { n: 2 }));
    const seenShared = (await sharing.next()).value as Extract<StorageChange, { type: "put" }>;
    const seenCopy = (await copying.next()).value as Extract<StorageChange, { type: "put" }>;
    const [stored] = await s.loadAll("Device", { shareValues: true });
    expect(seenShared.value).toBe(stored);
    expect(seenCopy.value).not.toBe(stored);
    expect(seenCopy.value).toEqual(stored);
    expect(stored.metadata?.revision).toBe(next);
    // The value shared before the save is not touched by it.
    expect(sharedA.spec).toEqual({ n: 1 });
    await s.close();
  });
});
