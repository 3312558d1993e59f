import { describe, expect, it } from "vitest";
import { resized } from "../../src/queue/typed-array.js";

describe("resized", () => {
  it("keeps the type and the values, and fills the new tail", () => {
    const a = Int32Array.of(3, -1, 7);
    const grown = resized(a, 6, -1);
    expect(grown).toBeInstanceOf(Int32Array);
    expect([...grown]).toEqual([3, -1, 7, -1, -1, -1]);
    expect(grown).not.toBe(a);
    expect([...resized(Float64Array.of(0.5), 3)]).toEqual([0.5, 0, 0]);
    expect(resized(Uint16Array.of(1), 2)).toBeInstanceOf(Uint16Array);
    expect([...resized(Uint8Array.of(1, 2), 2)]).toEqual([1, 2]);
  });
});
