import { describe, expect, it } from "vitest";
import { StringIndex, hashString } from "../../src/queue/string-index.js";

describe("hashString", () => {
  it("is a deterministic int32 that depends on every character", () => {
    expect(hashString("Device/dev-0000001")).toBe(hashString(`Device/dev-${"0000001"}`));
    expect(hashString("Device/dev-0000001") | 0).toBe(hashString("Device/dev-0000001"));
    expect(hashString("Device/dev-0000001")).not.toBe(hashString("Device/dev-0000002"));
    expect(hashString("")).not.toBe(hashString("\0"));
  });
});

describe("StringIndex", () => {
  it("finds, inserts and removes by handle, with keys kept by the caller", () => {
    const keys = ["a", "b"];
    const idx = new StringIndex();
    idx.insert(hashString("a"), 0);
    idx.insert(hashString("b"), 1);
    expect(idx.find("a", hashString("a"), keys)).toBe(0);
    expect(idx.find(`${"b"}`, hashString("b"), keys)).toBe(1);
    expect(idx.find("c", hashString("c"), keys)).toBe(-1);
    expect(idx.remove(hashString("a"), 0)).toBe(true);
    expect(idx.remove(hashString("a"), 0)).toBe(false);
    expect(idx.find("a", hashString("a"), keys)).toBe(-1);
    expect(idx.find("b", hashString("b"), keys)).toBe(1);
    expect(idx.size).toBe(1);
  });

  // Chosen hashes force long probe runs that wrap around the table end, the
  // case backward-shift deletion must get right; a Map is the reference.
  it("matches a Map under random inserts and removes with colliding hashes", () => {
    let seed = 7;
    const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) | 0) >>> 0) / 2 ** 32;
    const keys: string[] = [];
    const hashOf: number[] = [];
    for (let h = 0; h < 3000; h++) {
      keys.push(`k${h}`);
      // Home slots crowd at 0..3 and just before the end of a 1024, 2048 or 4096-slot table.
      const end = [1024, 2048, 4096][Math.floor(random() * 3)];
      hashOf.push(random() < 0.5 ? end - 4 + Math.floor(random() * 8) : Math.floor(random() * 4));
    }
    const idx = new StringIndex();
    const model = new Map<string, number>();
    for (let step = 0; step < 20_000; step++) {
      const h = Math.floor(random() * keys.length);
      const k = keys[h];
      if (model.has(k)) {
        expect(idx.remove(hashOf[h], h)).toBe(true);
        model.delete(k);
      } else {
        expect(idx.find(k, hashOf[h], keys)).toBe(-1);
        idx.insert(hashOf[h], h);
        model.set(k, h);
      }
      if (step % 997 === 0) {
        for (let j = 0; j < keys.length; j++) expect(idx.find(keys[j], hashOf[j], keys)).toBe(model.get(keys[j]) ?? -1);
      }
    }
    expect(idx.size).toBe(model.size);
    for (let j = 0; j < keys.length; j++) expect(idx.find(keys[j], hashOf[j], keys)).toBe(model.get(keys[j]) ?? -1);
  });
});
