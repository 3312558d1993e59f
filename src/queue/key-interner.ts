import { InvalidArgumentError, describe } from "./errors.js";
import { StringIndex, hashString } from "./string-index.js";
import { resized } from "./typed-array.js";

// Marks a released slot in the handle -> key table (a key may itself be undefined).
const FREE: unique symbol = Symbol("free");

/**
 * Maps keys to small dense integer handles, so everything behind it can index
 * typed arrays instead of hashing. Released handles are reused (most recently
 * released first), which keeps the handle space as small as the live key set.
 *
 * String keys (the usual kind) are found through a `StringIndex`, any other
 * key through a `Map` (SameValueZero, as before).
 *
 * A released string key stays in the index, marked not live, until its handle
 * is given to another key: a key that comes back before then (a queue that
 * releases idle keys and sees them again) gets its handle back with one
 * lookup, instead of a removal now and an insertion later. Memory stays
 * bounded by the most handles ever live at once, as the handle table is.
 */
export class KeyInterner<K> {
  private readonly strings = new StringIndex();
  private readonly handles = new Map<K, number>();
  private readonly keys: (K | typeof FREE)[] = [];
  // 1 where a handle stands for a key: what `has` reads, so checking a handle
  // touches a byte, not the (much larger, colder) keys table.
  private live = new Uint8Array(1024);
  // hashString of each string key, so `release` need not hash it again.
  private hashes = new Int32Array(1024);
  // Released handles, most recent last. Invariant: a handle is on the stack at
  // most once (`onFree`); one revived meanwhile is skipped when popped.
  private free = new Int32Array(64);
  private freeCount = 0;
  private onFree = new Uint8Array(1024);
  private liveCount = 0;

  /** How many keys hold a handle. */
  get size(): number {
    return this.liveCount;
  }

  /** The handle of `k`, allocated on first sight. */
  intern(k: K): number {
    if (typeof k === "string") {
      const hash = hashString(k);
      const known = this.strings.find(k, hash, this.keys);
      if (known >= 0) {
        if (this.live[known] === 0) {
          this.live[known] = 1; // released, not reused yet: revived in place
          this.liveCount++;
        }
        return known;
      }
      const h = this.allocate(k);
      this.hashes[h] = hash;
      this.strings.insert(hash, h);
      return h;
    }
    const known = this.handles.get(k);
    if (known !== undefined) return known;
    const h = this.allocate(k);
    this.handles.set(k, h);
    return h;
  }

  /** The handle of `k`, or -1 if it has none. */
  handleOf(k: K): number {
    if (typeof k === "string") {
      const h = this.strings.find(k, hashString(k), this.keys);
      return h >= 0 && this.live[h] === 1 ? h : -1;
    }
    return this.handles.get(k) ?? -1;
  }

  /** True when `h` currently stands for a key. */
  has(h: number): boolean {
    return this.live[h] === 1; // undefined (false) outside the table, for negatives and fractions too
  }

  /** The key of `h`, or undefined when it holds none (no throw: for fast checks). */
  keyAt(h: number): K | undefined {
    return this.live[h] === 1 ? (this.keys[h] as K) : undefined;
  }

  /** The key of handle `h`; throws for a handle that is free or was never given out. */
  keyOf(h: number): K {
    if (this.live[h] !== 1) throw new InvalidArgumentError("KeyInterner.keyOf", `no key holds handle ${describe(h)}`);
    return this.keys[h] as K;
  }

  /**
   * Frees `h` for reuse by another key; false if it held none. Whoever still
   * holds `h` after this must not use it.
   */
  release(h: number): boolean {
    if (!this.has(h)) return false;
    const k = this.keys[h] as K;
    // A string key stays indexed (and referenced) until `h` goes to another key.
    if (typeof k !== "string") {
      this.handles.delete(k);
      this.keys[h] = FREE;
    }
    this.live[h] = 0;
    this.liveCount--;
    if (this.onFree[h] === 0) {
      this.onFree[h] = 1;
      if (this.freeCount === this.free.length) {
        this.free = resized(this.free, this.free.length * 2);
      }
      this.free[this.freeCount++] = h;
    }
    return true;
  }

  /** A handle for new key `k`: a released one if any, else the next unused one. */
  private allocate(k: K): number {
    let h = this.keys.length;
    while (this.freeCount !== 0) {
      const released = this.free[--this.freeCount];
      this.onFree[released] = 0;
      if (this.live[released] === 0) {
        h = released;
        break;
      }
    }
    if (h === this.keys.length) {
      this.keys.push(k);
    } else {
      const old = this.keys[h];
      // The released string key this handle still carried leaves the index now.
      if (typeof old === "string") this.strings.remove(this.hashes[h], h);
      this.keys[h] = k;
    }
    if (h >= this.live.length) {
      const size = this.live.length * 2 > h ? this.live.length * 2 : h + 1;
      this.live = resized(this.live, size);
      this.hashes = resized(this.hashes, size);
      this.onFree = resized(this.onFree, size);
    }
    this.live[h] = 1;
    this.liveCount++;
    return h;
  }
}
