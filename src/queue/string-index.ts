// Per-process seed: which strings collide is not known in advance, so keys
// cannot be picked to pile up in one probe run (V8 seeds its own string hashes
// for the same reason).
const SEED = (Math.random() * 0x1_0000_0000) | 0;
const MIN_SLOTS = 1024;

/**
 * A string's 32-bit hash (FNV-1a steps, then murmur3's finalizer so that keys
 * differing in one character land far apart). Reads every character: O(length).
 */
export function hashString(s: string): number {
  let h = SEED ^ s.length;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * String key -> handle, for `KeyInterner`: open addressing with linear probing
 * in one `Int32Array` of (hash, handle + 1) pairs, 0 marking a free slot. The
 * keys themselves stay in the interner's table (`keys[handle]`).
 *
 * Why not a `Map`: a Map lookup follows a chain of pointers (bucket, entry, key
 * object), each a likely cache miss once the map holds a million keys, and
 * costs 100-200 ns there; here a hit is one slot read, a hash compare and an
 * identity compare of the key. The price is hashing the string on every
 * lookup (V8 caches a string's own hash, which JS cannot read).
 */
export class StringIndex {
  // Invariant: slots.length === 2 * (mask + 1), a power of two, and at most
  // half the slots are in use, so a probe always reaches a free slot.
  private slots = new Int32Array(2 * MIN_SLOTS);
  private mask = MIN_SLOTS - 1;
  private used = 0;

  get size(): number {
    return this.used;
  }

  /** The handle of `k` (`hash === hashString(k)`), or -1; `keys[handle]` is each handle's key. */
  find(k: string, hash: number, keys: readonly unknown[]): number {
    const slots = this.slots;
    const mask = this.mask;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const v = slots[2 * i + 1];
      if (v === 0) return -1;
      if (slots[2 * i] === hash && keys[v - 1] === k) return v - 1;
    }
  }

  /** Adds handle `h` for a key with `hash` that is not in the index. */
  insert(hash: number, h: number): void {
    if (2 * (this.used + 1) > this.mask + 1) this.grow();
    const slots = this.slots;
    const mask = this.mask;
    let i = hash & mask;
    while (slots[2 * i + 1] !== 0) i = (i + 1) & mask;
    slots[2 * i] = hash;
    slots[2 * i + 1] = h + 1;
    this.used++;
  }

  /** Removes handle `h`, inserted with `hash`; false if it is not there. */
  remove(hash: number, h: number): boolean {
    const slots = this.slots;
    const mask = this.mask;
    let i = hash & mask;
    for (;;) {
      const v = slots[2 * i + 1];
      if (v === 0) return false;
      if (v === h + 1) break;
      i = (i + 1) & mask;
    }
    // Backward-shift deletion (no tombstones, so lookups never slow down):
    // move up each later entry of the run whose home slot is not in (i, j].
    for (let j = (i + 1) & mask; slots[2 * j + 1] !== 0; j = (j + 1) & mask) {
      const home = slots[2 * j] & mask;
      if (i <= j ? i < home && home <= j : i < home || home <= j) continue;
      slots[2 * i] = slots[2 * j];
      slots[2 * i + 1] = slots[2 * j + 1];
      i = j;
    }
    slots[2 * i] = 0;
    slots[2 * i + 1] = 0;
    this.used--;
    return true;
  }

  private grow(): void {
    const old = this.slots;
    const mask = 2 * this.mask + 1;
    const slots = new Int32Array(2 * (mask + 1));
    for (let j = 0; j < old.length; j += 2) {
      if (old[j + 1] === 0) continue;
      let i = old[j] & mask;
      while (slots[2 * i + 1] !== 0) i = (i + 1) & mask;
      slots[2 * i] = old[j];
      slots[2 * i + 1] = old[j + 1];
    }
    this.slots = slots;
    this.mask = mask;
  }
}
