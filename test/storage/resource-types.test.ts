// The types carry the contract: a status holds conditions, and storage and the
// client hand back the resource type asked for. Checked by tsc (`npm test` runs
// `tsc --noEmit -p .`) and, where values are involved, at run time.
import { describe, expect, expectTypeOf, it } from "vitest";
import { InMemoryStorage, StorageClient, findCondition, setCondition, type Condition, type Resource } from "../../src/index.js";

type Device = Resource<{ desired: "running" | "stopped" }, { state?: string }>;

describe("Resource types", () => {
  it("an object status may hold conditions; an unknown status stays unknown", () => {
    expectTypeOf<NonNullable<Device["status"]>["conditions"]>().toEqualTypeOf<Condition[] | undefined>();
    expectTypeOf<NonNullable<Device["status"]>["state"]>().toEqualTypeOf<string | undefined>();
    expectTypeOf<Resource["status"]>().toEqualTypeOf<unknown>();
  });

  it("storage.load/loadAll and the client return the resource type asked for", async () => {
    const storage = new InMemoryStorage();
    const client = new StorageClient(storage);
    const created = await client.create<Device>({ kind: "Device", uid: "d1", spec: { desired: "running" } });
    expectTypeOf(created).toEqualTypeOf<Device>();

    const loaded = await storage.load<Device>("Device", "d1");
    expectTypeOf(loaded).toEqualTypeOf<Device | undefined>();
    const device = loaded!;
    device.status = { state: "running" };
    setCondition((device.status.conditions ??= []), "Ready", "True", "Converged", "running");
    await storage.save("Device", "d1", device, { expectedRevision: device.metadata?.revision });

    const all = await storage.loadAll<Device>("Device");
    expectTypeOf(all).toEqualTypeOf<Device[]>();
    // No cast: the conditions are part of the type.
    expect(findCondition(all[0].status?.conditions, "Ready")?.status).toBe("True");
    expectTypeOf(await client.get<Device>("Device", "d1")).toEqualTypeOf<Device | undefined>();
    expectTypeOf(await client.list<Device>("Device")).toEqualTypeOf<Device[]>();
    expectTypeOf(await client.update(all[0])).toEqualTypeOf<Device>();
  });
});
