import { describe, expect, it } from "vitest";
import { fnv1a32, partitionOf } from "../../src/cluster/partition-hash.js";

/** FNV-1a 32 over TextEncoder's bytes: the definition the inline encoder must match. */
function reference(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) hash = Math.imul(hash ^ byte, 0x01000193);
  return hash >>> 0;
}

describe("partition hash", () => {
  it("is FNV-1a 32 (published test vectors)", () => {
    expect(fnv1a32("")).toBe(0x811c9dc5);
    expect(fnv1a32("a")).toBe(0xe40c292c);
    expect(fnv1a32("foobar")).toBe(0xbf9cf968);
  });

  it("hashes the UTF-8 bytes: 2-, 3- and 4-byte characters and lone surrogates as TextEncoder encodes them", () => {
    for (const text of ["Device/é", "Device/日本", "Device/😀x", "a\ud800b", "z\udc00", "end\ud83d", "Ω≈ç√∫˜µ≤≥÷"]) {
      expect(fnv1a32(text), text).toBe(reference(text));
    }
    for (let i = 0; i < 2000; i++) {
      const text = String.fromCharCode(...Array.from({ length: 1 + (i % 12) }, (_, j) => (i * 7919 + j * 104729) % 0xffff));
      expect(fnv1a32(text)).toBe(reference(text));
    }
  });

  it("spreads keys over every partition, the same way every time", () => {
    const counts = new Array<number>(64).fill(0);
    for (let i = 0; i < 64_000; i++) counts[partitionOf(`Device/dev-${i}`, 64)]++;
    expect(Math.min(...counts)).toBeGreaterThan(800);
    expect(Math.max(...counts)).toBeLessThan(1200);
    expect(partitionOf("Device/dev-42", 64)).toBe(fnv1a32("Device/dev-42") % 64);
  });
});
