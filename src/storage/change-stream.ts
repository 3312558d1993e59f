import { Fifo } from "./fifo.js";

/**
 * One watcher's side of a storage watch: writers `push` without ever waiting,
 * changes buffer until the consumer pulls them, and `end` (abort, `return()`,
 * storage close) resolves pending pulls and drops the buffer.
 *
 * Records are turned into what the consumer sees (`deliver`) only when pulled,
 * so a write costs one buffer slot per watcher, and every watcher gets its own copy.
 */
export class ChangeStream<R, T> implements AsyncIterableIterator<T> {
  readonly #deliver: (record: R) => T;
  readonly #onEnd: () => void;
  #buffer = new Fifo<R>();
  #waiters = new Fifo<(result: IteratorResult<T>) => void>();
  #ended = false;
  #error: { reason: unknown } | undefined;

  constructor(deliver: (record: R) => T, onEnd: () => void = () => {}) {
    this.#deliver = deliver;
    this.#onEnd = onEnd;
  }

  /** A stream whose first pull rejects with `reason`; used for a watch that could not start. */
  static failed<R, T>(reason: unknown): ChangeStream<R, T> {
    const stream = new ChangeStream<R, T>(() => {
      throw reason;
    });
    stream.#error = { reason };
    stream.#ended = true;
    return stream;
  }

  get ended(): boolean {
    return this.#ended;
  }

  push(record: R): void {
    if (this.#ended) return;
    const waiter = this.#waiters.shift();
    // Invariant: waiters exist only while the buffer is empty, so order holds.
    if (waiter) waiter({ done: false, value: this.#deliver(record) });
    else this.#buffer.push(record);
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#buffer = new Fifo<R>();
    for (let waiter = this.#waiters.shift(); waiter; waiter = this.#waiters.shift()) {
      waiter({ done: true, value: undefined });
    }
    this.#onEnd();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#error) {
      const { reason } = this.#error;
      this.#error = undefined;
      return Promise.reject(reason);
    }
    if (this.#buffer.length > 0) {
      return Promise.resolve({ done: false, value: this.#deliver(this.#buffer.shift() as R) });
    }
    if (this.#ended) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  return(): Promise<IteratorResult<T>> {
    this.end();
    return Promise.resolve({ done: true, value: undefined });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
