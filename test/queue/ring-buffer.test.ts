import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../src/queue/errors.js";
import { IntRing, RingBuffer } from "../../src/queue/ring-buffer.js";

describe("IntRing", () => {
  it("returns -1 from shift and peek when empty", () => {
    const r = new IntRing();
    expect(r.length).toBe(0);
    expect(r.shift()).toBe(-1);
    expect(r.peek()).toBe(-1);
  });

  it("grows past its capacity and keeps FIFO order across wrap-around", () => {
    const r = new IntRing(16);
    const expected: number[] = [];
    let next = 0;
    // Advance head so the live region wraps before the ring has to grow.
    for (let i = 0; i < 10; i++) r.push(next++);
    for (let i = 0; i < 7; i++) expect(r.shift()).toBe(i);
    for (let i = 7; i < 10; i++) expected.push(i);
    for (let i = 0; i < 100; i++) {
      r.push(next);
      expected.push(next++);
    }
    expect(r.length).toBe(expected.length);
    expect(r.peek()).toBe(expected[0]);
    // Interleave more wrap-arounds with growth.
    const out: number[] = [];
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 3; i++) out.push(r.shift());
      for (let i = 0; i < 5; i++) {
        r.push(next);
        expected.push(next++);
      }
    }
    while (r.length > 0) out.push(r.shift());
    expect(out).toEqual(expected);
    expect(r.shift()).toBe(-1);
  });

  it("clear empties it and it stays usable", () => {
    const r = new IntRing();
    for (let i = 0; i < 40; i++) r.push(i);
    r.clear();
    expect(r.length).toBe(0);
    expect(r.shift()).toBe(-1);
    r.push(7);
    expect(r.shift()).toBe(7);
  });

  it("rejects a bad initial capacity", () => {
    expect(() => new IntRing(0)).toThrow(InvalidArgumentError);
    expect(() => new IntRing(1.5)).toThrow(/IntRing.initialCapacity/);
  });
});

describe("RingBuffer", () => {
  it("is FIFO across growth and wrap-around and iterates in order", () => {
    const r = new RingBuffer<string>(4);
    for (let i = 0; i < 12; i++) r.push(`a${i}`);
    for (let i = 0; i < 10; i++) expect(r.shift()).toBe(`a${i}`);
    for (let i = 0; i < 30; i++) r.push(`b${i}`);
    expect(r.peek()).toBe("a10");
    expect([...r]).toEqual(["a10", "a11", ...Array.from({ length: 30 }, (_, i) => `b${i}`)]);
    expect(r.length).toBe(32);
  });

  it("returns undefined when empty", () => {
    const r = new RingBuffer<number>();
    expect(r.shift()).toBeUndefined();
    expect(r.peek()).toBeUndefined();
  });

  it("clears the slot it shifts, so nothing removed stays reachable", () => {
    const r = new RingBuffer<object>(16);
    const items = Array.from({ length: 5 }, (_, i) => ({ i }));
    for (const o of items) r.push(o);
    for (let i = 0; i < 5; i++) r.shift();
    // Peek into the backing array: every slot must be empty again.
    const buf = (r as unknown as { buf: unknown[] }).buf;
    expect(buf.every((x) => x === undefined)).toBe(true);
    r.push(items[0]);
    r.clear();
    expect(buf.every((x) => x === undefined)).toBe(true);
    expect(r.length).toBe(0);
  });
});
