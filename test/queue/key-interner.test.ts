import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../src/queue/errors.js";
import { KeyInterner } from "../../src/queue/key-interner.js";

describe("KeyInterner", () => {
  it("gives each key one small handle", () => {
    const i = new KeyInterner<string>();
    const a = i.intern("Device/a");
    const b = i.intern("Device/b");
    expect([a, b]).toEqual([0, 1]);
    expect(i.intern("Device/a")).toBe(a);
    expect(i.handleOf("Device/b")).toBe(b);
    expect(i.handleOf("Device/zz")).toBe(-1);
    expect(i.keyOf(b)).toBe("Device/b");
    expect(i.size).toBe(2);
  });

  it("reuses released handles and forgets their keys", () => {
    const i = new KeyInterner<string>();
    for (const k of ["a", "b", "c"]) i.intern(k);
    expect(i.release(1)).toBe(true);
    expect(i.release(1)).toBe(false);
    expect(i.handleOf("b")).toBe(-1);
    expect(i.has(1)).toBe(false);
    expect(() => i.keyOf(1)).toThrow(InvalidArgumentError);
    expect(i.size).toBe(2);
    expect(i.intern("d")).toBe(1);
    expect(i.keyOf(1)).toBe("d");
    expect(i.intern("b")).toBe(3);
  });

  it("works with non-string keys, undefined included", () => {
    const i = new KeyInterner<object | undefined>();
    const o = {};
    const h = i.intern(o);
    const u = i.intern(undefined);
    expect(i.keyOf(h)).toBe(o);
    expect(i.keyOf(u)).toBeUndefined();
    expect(i.handleOf({})).toBe(-1);
  });

  it("throws for handles never given out", () => {
    const i = new KeyInterner<string>();
    expect(() => i.keyOf(0)).toThrow(/KeyInterner.keyOf: no key holds handle 0/);
    expect(() => i.keyOf(-1)).toThrow(InvalidArgumentError);
    expect(i.release(5)).toBe(false);
  });
});

describe("KeyInterner with many keys", () => {
  it("keeps string and non-string keys apart and survives growth and release", () => {
    const i = new KeyInterner<string | number>();
    const n = 5000;
    for (let k = 0; k < n; k++) {
      expect(i.intern(`s${k}`)).toBe(2 * k);
      expect(i.intern(k)).toBe(2 * k + 1);
    }
    expect(i.handleOf("1")).toBe(-1); // the string "1" is not the number 1
    expect(i.handleOf(1)).toBe(3);
    for (let k = 0; k < n; k += 2) expect(i.release(i.handleOf(`s${k}`))).toBe(true);
    expect(i.size).toBe(2 * n - n / 2);
    for (let k = 0; k < n; k++) {
      expect(i.handleOf(`s${k}`) >= 0).toBe(k % 2 === 1);
      expect(i.keyOf(i.handleOf(k))).toBe(k);
    }
    // Fresh string objects with the same contents find the same handles.
    for (let k = 1; k < n; k += 2) expect(i.intern(["s", String(k)].join(""))).toBe(2 * k);
  });
});
