import { describe, expect, it } from "vitest";
import { ValidationError } from "../../src/codec/errors.js";
import { copyPlainData, isPlainData, NOT_PLAIN } from "../../src/codec/plain-data.js";
import { findUnsafe, MAX_RESOURCE_DEPTH, checkResource, parseResource, parseResourceCopy } from "../../src/codec/resource-schema.js";
import { fuzzSeed, malformedSave, Rng, validResource } from "../fuzz/generators.js";

function nested(levels: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < levels; i++) value = { a: value };
  return value;
}

function outcome(parse: () => unknown): { ok: true; value: unknown } | { ok: false; path: string; message: string } {
  try {
    return { ok: true, value: parse() };
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return { ok: false, path: (error as ValidationError).path, message: (error as Error).message };
  }
}

describe("copyPlainData / isPlainData", () => {
  it("copies plain data all the way down", () => {
    const value = { a: [1, "x", null, true, { b: { c: [] } }], n: -1.5, absent: undefined };
    const copy = copyPlainData(value) as typeof value;
    expect(copy).toEqual(value);
    expect(copy).not.toBe(value);
    expect(copy.a).not.toBe(value.a);
    expect(copy.a[4]).not.toBe(value.a[4]);
    expect(isPlainData(value)).toBe(true);
  });

  const unusual: [string, () => unknown][] = [
    ["a function", () => ({ f: () => 1 })],
    ["a symbol", () => ({ s: Symbol("x") })],
    ["a bigint", () => ({ b: 1n })],
    ["a Date", () => ({ when: new Date(0) })],
    ["a Map", () => ({ ports: new Map([["http", 80]]) })],
    ["NaN", () => ({ n: Number.NaN })],
    ["an infinity", () => ({ n: [-Infinity] })],
    ["undefined in an array", () => ({ a: [1, undefined] })],
    ["a hole in an array", () => ({ a: [1, , 3] })],
    ["a shared array of many items", () => {
      const big = Array.from({ length: 20_000 }, (_, i) => i);
      return { a: big, b: big, c: big, d: big, e: big, f: big };
    }],
    ["a null-prototype object", () => ({ o: Object.create(null) })],
    ["a __proto__ key", () => JSON.parse('{"x": {"__proto__": {"admin": true}}}')],
    ["a constructor key", () => ({ constructor: 1 })],
    ["a cycle", () => {
      const o: Record<string, unknown> = {};
      o.self = o;
      return o;
    }],
    ["nesting deeper than the bound", () => nested(MAX_RESOURCE_DEPTH + 1)],
    ["a DAG with more paths than the walk's budget", () => {
      let dag: unknown = { leaf: true };
      for (let i = 0; i < 40; i++) dag = [dag, dag];
      return dag;
    }],
  ];
  for (const [what, make] of unusual) {
    it(`hands ${what} to the full check`, () => {
      expect(copyPlainData(make())).toBe(NOT_PLAIN);
      expect(isPlainData(make())).toBe(false);
    });
  }

  it("accepts the deepest nesting the schema accepts", () => {
    expect(copyPlainData(nested(MAX_RESOURCE_DEPTH))).toEqual(nested(MAX_RESOURCE_DEPTH));
  });
});

describe("parseResourceCopy and checkResource agree with parseResource", () => {
  const seed = fuzzSeed();

  it(`on valid and malformed resources (seed ${seed})`, () => {
    const rng = new Rng(seed);
    let accepted = 0;
    let rejected = 0;
    for (let i = 0; i < 3000; i++) {
      const input = i % 3 === 0 ? validResource(rng, "Device", `d${i}`) : malformedSave(rng, "Device", `d${i}`).value;
      const full = outcome(() => parseResource(input, "value"));
      const copied = outcome(() => parseResourceCopy(input, "value"));
      const owned = outcome(() => checkResource(input, "value"));
      // With the names the caller expects, as saves and KV decodes pass them.
      const copiedFor = outcome(() => parseResourceCopy(input, "value", "Device", `d${i}`));
      const ownedFor = outcome(() => checkResource(input, "value", "Device", `d${i}`));
      expect(copied.ok).toBe(full.ok);
      expect(owned.ok).toBe(full.ok);
      expect(copiedFor).toEqual(copied);
      expect(ownedFor).toEqual(owned);
      if (full.ok) {
        accepted++;
        expect(findUnsafe(input)).toBeUndefined();
        expect(copied.ok && copied.value).toEqual(full.value);
      } else {
        rejected++;
        expect(copied).toEqual(full);
        expect(owned).toEqual(full);
      }
    }
    expect(accepted).toBeGreaterThan(500);
    expect(rejected).toBeGreaterThan(500);
  });

  it("never returns the caller's objects from parseResourceCopy", () => {
    const input = { kind: "Device", uid: "d1", metadata: { labels: { zone: "a" }, finalizers: ["f"] }, spec: { list: [{ x: 1 }] }, status: { s: 1 } };
    const copy = parseResourceCopy(input, "value") as typeof input;
    expect(copy).toEqual(input);
    expect(copy.metadata).not.toBe(input.metadata);
    expect(copy.metadata.labels).not.toBe(input.metadata.labels);
    expect(copy.spec.list[0]).not.toBe(input.spec.list[0]);
    expect(copy.status).not.toBe(input.status);
  });

  it("with expected names, still accepts a valid resource carrying other names (the caller reports the mismatch)", () => {
    const input = { kind: "Switch", uid: "s1", spec: {} };
    expect(checkResource(input, "value", "Device", "d1")).toEqual(input);
    expect(parseResourceCopy(input, "value", "Device", "d1")).toEqual(input);
    expect(outcome(() => checkResource({ ...input, uid: "a.b" }, "value", "Device", "d1"))).toMatchObject({ ok: false, path: "value.uid" });
    expect(outcome(() => parseResourceCopy({ ...input, uid: "a.b" }, "value", "Device", "d1"))).toMatchObject({ ok: false, path: "value.uid" });
  });

  it("takes the schema's path for less common metadata and still accepts it", () => {
    const input = { kind: "Device", uid: "d1", metadata: { ownerUid: "rack-1", ownerKind: "Rack", deletedAt: "2024-05-01T10:00:00Z", note: "kept" }, spec: {} };
    expect(parseResourceCopy(input, "value")).toEqual(input);
    expect(outcome(() => parseResourceCopy({ ...input, metadata: { ownerUid: "a.b" } }, "value"))).toMatchObject({ ok: false, path: "value.metadata.ownerUid" });
  });
});
