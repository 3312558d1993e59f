import { describe, expect, it } from "vitest";
import { deepCopy } from "../../src/codec/deep-copy.js";

describe("deepCopy", () => {
  it("copies plain objects and arrays all the way down", () => {
    const value = { a: { b: [1, { c: "x" }, null] }, n: 0, s: "", t: true, u: undefined };
    const copy = deepCopy(value);
    expect(copy).toEqual(value);
    expect(copy).not.toBe(value);
    expect(copy.a).not.toBe(value.a);
    expect(copy.a.b).not.toBe(value.a.b);
    expect(copy.a.b[1]).not.toBe(value.a.b[1]);
    expect(Object.keys(copy)).toEqual(Object.keys(value));
  });

  it("copies other objects with structuredClone", () => {
    const when = new Date(0);
    const bytes = new Uint8Array([1, 2, 3]);
    const map = new Map([["k", { v: 1 }]]);
    const copy = deepCopy({ when, bytes, map });
    expect(copy.when).toBeInstanceOf(Date);
    expect(copy.when).not.toBe(when);
    expect(copy.when.getTime()).toBe(0);
    expect(copy.bytes).toEqual(bytes);
    expect(copy.bytes).not.toBe(bytes);
    expect(copy.map.get("k")).toEqual({ v: 1 });
    expect(copy.map.get("k")).not.toBe(map.get("k"));
  });

  it("throws for what structuredClone cannot copy", () => {
    expect(() => deepCopy({ weak: new WeakMap() })).toThrow();
  });

  it("keeps shared sub-objects shared, so a DAG copies in linear time", () => {
    let dag: unknown = { leaf: true };
    for (let i = 0; i < 50; i++) dag = [dag, dag];
    const copy = deepCopy(dag) as unknown[];
    // Booleans, not toBe: a failing (or negated) toBe deep-compares, 2^50 paths here.
    expect(copy[0] === copy[1]).toBe(true);
    expect(copy[0] === (dag as unknown[])[0]).toBe(false);
  });
});
