import { describe, expect, it } from "vitest";
import { fairShare, planShare, preferenceOrder } from "../../src/cluster/fair-share.js";

describe("fair shares", () => {
  it("add up to the partitions and differ by at most one, for any member count", () => {
    for (const partitions of [1, 7, 16, 64]) {
      for (let count = 1; count <= 20; count++) {
        const names = Array.from({ length: count }, (_, i) => `m${i}`);
        const shares = names.map((name) => fairShare(name, names, partitions));
        expect(shares.reduce((a, b) => a + b, 0)).toBe(partitions);
        expect(Math.max(...shares) - Math.min(...shares)).toBeLessThanOrEqual(1);
      }
    }
  });

  it("gives 64 partitions over 12 members 6 or 5 each, not ceil's 6 x 10 + 4 + 0", () => {
    const names = Array.from({ length: 12 }, (_, i) => `m${i}`);
    expect(names.map((n) => fairShare(n, names, 64)).sort()).toEqual([5, 5, 5, 5, 5, 5, 5, 5, 6, 6, 6, 6]);
  });

  it("counts the member itself even when it is not in the list", () => {
    expect(fairShare("b", ["a"], 16)).toBe(8);
  });

  it("orders partitions differently per member, each once", () => {
    const a = preferenceOrder("a", 64);
    const b = preferenceOrder("b", 64);
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 64 }, (_, i) => i));
    expect([...a]).not.toEqual([...b]);
    expect([...preferenceOrder("a", 64)]).toEqual([...a]);
  });
});

describe("planShare", () => {
  const order = Int32Array.from([3, 1, 0, 2, 5, 4]);

  it("acquires available partitions in preference order up to the target, counting pending ones", () => {
    const plan = planShare(3, order, () => false, 0, 1, (p) => p === 1, (p) => p !== 0);
    expect(plan).toEqual({ acquire: [3, 2], release: [] });
  });

  it("releases the least preferred held partitions above the target", () => {
    const held = new Set([3, 1, 4, 2]);
    const plan = planShare(2, order, (p) => held.has(p), held.size, 0, (p) => held.has(p), () => true);
    expect(plan).toEqual({ acquire: [], release: [4, 2] });
  });
});
