import { InvalidArgumentError, describe, pow2AtLeast } from "./errors.js";

const MIN_CAPACITY = 16;
// 2^30 slots: one more doubling would pass the largest typed array V8 allows.
const MAX_CAPACITY = 2 ** 30;

function initialCapacity(where: string, capacity: number): number {
  if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_CAPACITY) {
    throw new InvalidArgumentError(where, `initial capacity must be an integer in 1..${MAX_CAPACITY}, got ${describe(capacity)}`);
  }
  return pow2AtLeast(capacity, MIN_CAPACITY);
}

/**
 * FIFO of int32 values in a growable power-of-two `Int32Array` (no `Array#shift`,
 * no boxing). Empty is signalled by -1, so store only non-negative values when
 * you rely on that (the queue stores handles).
 */
export class IntRing {
  private buf: Int32Array;
  // Invariant: buf.length is a power of two and mask === buf.length - 1.
  private mask: number;
  private head = 0;
  private size = 0;

  constructor(initialCapacityHint = MIN_CAPACITY) {
    this.buf = new Int32Array(initialCapacity("IntRing.initialCapacity", initialCapacityHint));
    this.mask = this.buf.length - 1;
  }

  get length(): number {
    return this.size;
  }

  /** Appends `v` (coerced to int32). */
  push(v: number): void {
    if (this.size === this.buf.length) this.grow();
    this.buf[(this.head + this.size) & this.mask] = v;
    this.size++;
  }

  /** Removes and returns the oldest value, or -1 when empty. */
  shift(): number {
    if (this.size === 0) return -1;
    const v = this.buf[this.head];
    this.head = (this.head + 1) & this.mask;
    this.size--;
    return v;
  }

  /** The oldest value without removing it, or -1 when empty. */
  peek(): number {
    return this.size === 0 ? -1 : this.buf[this.head];
  }

  clear(): void {
    this.head = 0;
    this.size = 0;
  }

  private grow(): void {
    const old = this.buf;
    if (old.length >= MAX_CAPACITY) throw new RangeError(`IntRing: cannot grow past ${MAX_CAPACITY} items`);
    const next = new Int32Array(old.length * 2);
    // Unwrap so the oldest item lands at index 0.
    const tail = old.length - this.head;
    next.set(old.subarray(this.head));
    if (this.head !== 0) next.set(old.subarray(0, this.head), tail);
    this.buf = next;
    this.mask = next.length - 1;
    this.head = 0;
  }
}

/**
 * FIFO of any values in a growable power-of-two array. `shift` clears the slot
 * it reads so the buffer never keeps a removed item alive.
 */
export class RingBuffer<T> {
  private buf: (T | undefined)[];
  private mask: number;
  private head = 0;
  private size = 0;

  constructor(initialCapacityHint = MIN_CAPACITY) {
    this.buf = new Array<T | undefined>(initialCapacity("RingBuffer.initialCapacity", initialCapacityHint)).fill(undefined);
    this.mask = this.buf.length - 1;
  }

  get length(): number {
    return this.size;
  }

  push(v: T): void {
    if (this.size === this.buf.length) this.grow();
    this.buf[(this.head + this.size) & this.mask] = v;
    this.size++;
  }

  /** Removes and returns the oldest item, or `undefined` when empty. */
  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const v = this.buf[this.head];
    this.buf[this.head] = undefined; // no leak through a stale slot
    this.head = (this.head + 1) & this.mask;
    this.size--;
    return v;
  }

  peek(): T | undefined {
    return this.size === 0 ? undefined : this.buf[this.head];
  }

  clear(): void {
    for (let i = 0; i < this.size; i++) this.buf[(this.head + i) & this.mask] = undefined;
    this.head = 0;
    this.size = 0;
  }

  /** Items oldest first. Do not push or shift while iterating. */
  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.size; i++) yield this.buf[(this.head + i) & this.mask] as T;
  }

  private grow(): void {
    const old = this.buf;
    if (old.length >= MAX_CAPACITY) throw new RangeError(`RingBuffer: cannot grow past ${MAX_CAPACITY} items`);
    const next = new Array<T | undefined>(old.length * 2).fill(undefined);
    for (let i = 0; i < this.size; i++) next[i] = old[(this.head + i) & this.mask];
    this.buf = next;
    this.mask = next.length - 1;
    this.head = 0;
  }
}
