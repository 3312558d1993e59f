import { describe, expect, it } from "vitest";
import { applyOne, parseApplyInput } from "../../src/cli/cli-apply.js";
import { StorageClient } from "../../src/reconcile/storage-client.js";
import { InMemoryStorage } from "../../src/storage/in-memory-storage.js";
import type { Resource } from "../../src/storage/resource.js";
import type { SaveOptions } from "../../src/storage/storage.js";

/** In-memory storage where someone else (a controller's status write) writes just before each of the first `times` saves. */
class RacingStorage extends InMemoryStorage {
  constructor(public times: number) {
    super();
  }

  override async save(kind: string, uid: string, value: Resource, options?: SaveOptions): Promise<number> {
    if (this.times > 0 && options?.expectedRevision !== 0) {
      this.times--;
      const current = (await this.load(kind, uid))!;
      await super.save(kind, uid, { ...current, status: { writes: this.times } });
    }
    return super.save(kind, uid, value, options);
  }
}

describe("apply", () => {
  it("retries a compare-and-swap lost to another writer, keeping that writer's status", async () => {
    const storage = new RacingStorage(0);
    const client = new StorageClient(storage);
    await client.create({ kind: "Light", uid: "l1", spec: { on: false } });
    storage.times = 3;
    const { outcome, stored } = await applyOne(client, { kind: "Light", uid: "l1", spec: { on: true } });
    expect(outcome).toBe("configured");
    expect(stored.metadata?.generation).toBe(2);
    expect(await storage.load("Light", "l1")).toMatchObject({ spec: { on: true }, status: { writes: 0 }, metadata: { generation: 2 } });
  });

  it("gives up with a clear error when a pinned revision is stale, and never retries it", async () => {
    const storage = new RacingStorage(1);
    const client = new StorageClient(storage);
    const created = await client.create({ kind: "Light", uid: "l1", spec: { on: false } });
    await expect(applyOne(client, { kind: "Light", uid: "l1", spec: { on: true }, metadata: { revision: (created as Resource).metadata!.revision } })).rejects.toThrow(
      /Light\/l1 changed: metadata.revision 1 is not its revision \(2\)/,
    );
  });

  it("reads one resource or an array, takes spec and labels, ignores status, refuses what reconcilers own", () => {
    expect(parseApplyInput('{"kind":"Light","uid":"l1","spec":{},"status":{"x":1},"metadata":{"labels":{"a":"b"},"generation":4}}', "f.json")).toEqual([
      { kind: "Light", uid: "l1", spec: {}, metadata: { labels: { a: "b" } } },
    ]);
    expect(() => parseApplyInput("[]", "f.json")).toThrow(/f.json: holds no resources/);
    expect(() => parseApplyInput("{", "f.json")).toThrow(/f.json: is not valid JSON/);
    expect(() => parseApplyInput('[{"kind":"Light","uid":"l1","spec":{}},{"kind":"Light","uid":"a b","spec":{}}]', "f.json")).toThrow(/f.json\[1\]\.uid/);
    expect(() => parseApplyInput('{"kind":"Light","uid":"l1","spec":{},"metadata":{"ownerUid":"c"}}', "f.json")).toThrow(/f.json.metadata.ownerUid: is set by reconcilers/);
  });
});
