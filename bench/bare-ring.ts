// The queue suite's reference point: the least code that gives client-go's
// dedup semantics on integer handles (queued / processing / dirty-while-
// processing), with a fixed capacity and no waiters, counters or checks.
const QUEUED = 1;
const PROCESSING = 2;

/** An Int32Array ring of handles plus a Uint8Array of flags indexed by handle. */
export class BareRing {
  private readonly ring: Int32Array;
  private readonly flags: Uint8Array;
  private readonly mask: number;
  private head = 0;
  private tail = 0;

  /** Holds handles 0..maxHandle-1. */
  constructor(maxHandle: number) {
    let size = 16;
    while (size <= maxHandle) size *= 2; // one slot spare: head === tail means empty
    this.ring = new Int32Array(size);
    this.mask = size - 1;
    this.flags = new Uint8Array(maxHandle);
  }

  add(h: number): void {
    const f = this.flags[h];
    if (f === 0) {
      this.flags[h] = QUEUED;
      this.ring[this.tail] = h;
      this.tail = (this.tail + 1) & this.mask;
    } else if (f === PROCESSING) {
      this.flags[h] = PROCESSING | QUEUED; // dirty: done() puts it back
    }
  }

  /** The next handle, now processing; -1 when empty. */
  get(): number {
    if (this.head === this.tail) return -1;
    const h = this.ring[this.head];
    this.head = (this.head + 1) & this.mask;
    this.flags[h] = PROCESSING;
    return h;
  }

  done(h: number): void {
    if (this.flags[h] === (PROCESSING | QUEUED)) {
      this.flags[h] = QUEUED;
      this.ring[this.tail] = h;
      this.tail = (this.tail + 1) & this.mask;
    } else {
      this.flags[h] = 0;
    }
  }
}
