import { describe, expect, it } from "vitest";
import { Fifo } from "../../src/storage/fifo.js";

describe("Fifo", () => {
  it("shifts in push order across growth and wrap-around", () => {
    const fifo = new Fifo<number>();
    const expected: number[] = [];
    let next = 0;
    // Interleave so the head wraps around the ring before and after each growth.
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < round * 3 + 1; i++) {
        fifo.push(next);
        expected.push(next++);
      }
      for (let i = 0; i < round * 2; i++) expect(fifo.shift()).toBe(expected.shift());
      expect(fifo.length).toBe(expected.length);
    }
    while (expected.length > 0) expect(fifo.shift()).toBe(expected.shift());
    expect(fifo.length).toBe(0);
    expect(fifo.shift()).toBeUndefined();
  });

  it("works again after draining a large burst and after clear", () => {
    const fifo = new Fifo<string>();
    for (let i = 0; i < 5000; i++) fifo.push(`k${i}`);
    for (let i = 0; i < 5000; i++) expect(fifo.shift()).toBe(`k${i}`);
    fifo.push("a");
    fifo.push("b");
    expect(fifo.shift()).toBe("a");
    fifo.clear();
    expect(fifo.length).toBe(0);
    expect(fifo.shift()).toBeUndefined();
    fifo.push("c");
    expect(fifo.shift()).toBe("c");
  });
});
