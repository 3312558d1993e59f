/**
 * A growable ring buffer: O(1) push and shift at any length (`Array#shift` is
 * O(n) past a few thousand items, and a slow watcher may hold many).
 */
export class Fifo<T> {
  static readonly #MIN_CAPACITY = 16;
  // Capacity is a power of two so wrapping is a mask, not a division.
  #items: (T | undefined)[] = new Array(Fifo.#MIN_CAPACITY);
  #head = 0;
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(item: T): void {
    if (this.#length === this.#items.length) this.#grow();
    this.#items[(this.#head + this.#length) & (this.#items.length - 1)] = item;
    this.#length++;
  }

  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined; // no stale reference keeps a value alive
    this.#head = (this.#head + 1) & (this.#items.length - 1);
    this.#length--;
    // Give back a burst's memory once drained.
    if (this.#length === 0 && this.#items.length > 1024) this.clear();
    return item;
  }

  clear(): void {
    this.#items = new Array(Fifo.#MIN_CAPACITY);
    this.#head = 0;
    this.#length = 0;
  }

  #grow(): void {
    const old = this.#items;
    const items: (T | undefined)[] = new Array(old.length * 2);
    for (let i = 0; i < this.#length; i++) items[i] = old[(this.#head + i) & (old.length - 1)];
    this.#items = items;
    this.#head = 0;
  }
}
