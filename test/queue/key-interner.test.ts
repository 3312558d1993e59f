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

  it("gives a released string key its handle back when it returns before the handle is reused", () => {
    const i = new KeyInterner<string>();
    for (const k of ["a", "b", "c"]) i.intern(k);
    i.release(1);
    expect(i.size).toBe(2);
    expect(i.intern("b")).toBe(1);
    expect(i.has(1)).toBe(true);
    expect(i.keyOf(1)).toBe("b");
    expect(i.size).toBe(3);
    // Released again and revived again: the handle is never handed to two keys.
    i.release(1);
    i.release(0);
    expect(i.intern("b")).toBe(1);
    const d = i.intern("d");
    expect(d).toBe(0);
    const e = i.intern("e");
    expect(e).toBe(3);
    expect(new Set([i.handleOf("a"), i.handleOf("b"), i.handleOf("c"), d, e])).toEqual(new Set([-1, 1, 2, 0, 3]));
    expect(i.keyOf(0)).toBe("d");
    expect(i.intern("a")).toBe(4);
  });

  it("never hands one handle to two live keys across many release and revive cycles", () => {
    const i = new KeyInterner<string>();
    const keys = Array.from({ length: 200 }, (_, n) => `k${n}`);
    let seed = 7;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % 1000) / 1000;
    const live = new Map<string, number>();
    for (let step = 0; step < 20_000; step++) {
      const k = keys[Math.floor(rnd() * keys.length)];
      if (live.has(k) && rnd() < 0.5) {
        expect(i.release(live.get(k)!)).toBe(true);
        live.delete(k);
      } else {
        const h = i.intern(k);
        if (live.has(k)) expect(h).toBe(live.get(k));
        live.set(k, h);
      }
      if (step % 500 === 0) {
        const handles = [...live.values()];
        expect(new Set(handles).size).toBe(handles.length);
        for (const [key, h] of live) {
          expect(i.keyOf(h)).toBe(key);
          expect(i.handleOf(key)).toBe(h);
        }
        expect(i.size).toBe(live.size);
      }
    }
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
