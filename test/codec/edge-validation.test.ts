import { describe, expect, it } from "vitest";
import { InMemoryEventBus, InMemoryStorage, ValidationError, newResourceEvent } from "../../src/index.js";

function deep(levels: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < levels; i++) value = { next: value };
  return value;
}

/** `levels` + 1 objects, each referring twice to the next: 2^levels paths to the leaf. */
function dag(levels: number): unknown {
  let value: unknown = { leaf: 1 };
  for (let i = 0; i < levels; i++) value = { l: value, r: value };
  return value;
}

describe("validation at the edges both backends share", () => {
  it.each([
    ["a function", { f: () => 1 }, /event\.data: .*f \(function\) cannot be stored/],
    ["a bigint", { n: 3n }, /event\.data: .*n \(bigint\) cannot be stored/],
    ["a prototype-polluting key", JSON.parse('{"a":{"__proto__":{"x":1}}}'), /event\.data: .*a\.__proto__/],
    ["nesting past 64 levels", deep(80), /event\.data: .*nested deeper than 64/],
    ["a DAG of 31 objects with 2^30 paths", dag(30), /event\.data: .*writes out more than 1000000 values/],
  ])("the in-memory bus refuses event data holding %s, as JetStream would", async (_what, data, message) => {
    const bus = new InMemoryEventBus();
    const event = newResourceEvent("io.example.thing.poked", "Thing", "a", {});
    event.data = data;
    const error = await bus.publish(event).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect(String((error as Error).message)).toMatch(message);
    expect(bus.stats().published).toBe(0);
    await bus.close();
  });

  it("refuses a publish signal that is not an AbortSignal, naming it", async () => {
    const bus = new InMemoryEventBus();
    await expect(bus.publish(newResourceEvent("io.example.thing.poked", "Thing", "a", {}), { signal: "x" as never })).rejects.toThrow(/options.signal/);
    await bus.close();
  });

  it("refuses save and delete options that are not an object, instead of writing unconditionally", async () => {
    const storage = new InMemoryStorage();
    await expect(storage.save("Thing", "a", { kind: "Thing", uid: "a", spec: {} }, 5 as never)).rejects.toThrow(/^options: must be an object/);
    await expect(storage.delete("Thing", "a", "x" as never)).rejects.toThrow(ValidationError);
    expect(await storage.exists("Thing", "a")).toBe(false);
    await storage.close();
  });

  it("refuses a bigint in a resource in memory, as KV does", async () => {
    const storage = new InMemoryStorage();
    await expect(storage.save("Thing", "a", { kind: "Thing", uid: "a", spec: { n: 1n } })).rejects.toThrow(/bigint/);
    await storage.close();
  });
});
