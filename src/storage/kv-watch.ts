import { Fifo } from "./fifo.js";
import { KvWatchError } from "./kv-errors.js";
import type { KvWatchEntry, KvWatchSource } from "./kv-watch-consumer.js";
import type { StorageChange } from "./storage.js";

interface Waiter {
  resolve(result: IteratorResult<StorageChange>): void;
  reject(reason: unknown): void;
}

/**
 * One `KvStorage.watch`: takes the KV watch's entries as they arrive into a
 * buffer the consumer pulls from. Ends (done) on `end()` — abort, `return()`,
 * storage close — and
 * fails (one rejection after the buffered changes, then done) when the NATS
 * watch cannot start or stops by itself, so the caller re-watches and relists.
 */
export class KvWatchStream implements AsyncIterableIterator<StorageChange> {
  #state: "open" | "failed" | "ended" = "open";
  #buffer = new Fifo<StorageChange>();
  #waiters = new Fifo<Waiter>();
  #error: { reason: unknown } | undefined;
  #source: KvWatchSource | undefined;
  #lastRevision = 0;
  /** The source's stop: its consumer deleted. */
  #stopped: Promise<void> = Promise.resolve();
  readonly #onEnd: () => void;
  readonly #endedBecause: () => string;
  readonly #saw: (revision: number) => void;
  readonly #toChange: (entry: KvWatchEntry) => StorageChange | undefined;
  #opening: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly what: string,
    onEnd: () => void,
    endedBecause: () => string,
    saw: (revision: number) => void = () => {},
    toChange: (entry: KvWatchEntry) => StorageChange | undefined = () => undefined,
  ) {
    this.#onEnd = onEnd;
    this.#endedBecause = endedBecause;
    this.#saw = saw;
    this.#toChange = toChange;
  }

  /**
   * Opens the source with `open`, which hands it the callback for entries.
   * `toChange` turns an entry into a change, or `undefined` to skip it (it
   * logs why); `what` names the watch in errors; `onEnd` runs once when the
   * stream ends or fails; `endedBecause` guesses why the source stopped by
   * itself; `saw` is told every revision received, in order, even one that
   * went back (a stream created again).
   */
  static start(
    open: (onEntry: (entry: KvWatchEntry) => void) => Promise<KvWatchSource>,
    toChange: (entry: KvWatchEntry) => StorageChange | undefined,
    what: string,
    onEnd: () => void,
    endedBecause: () => string,
    saw: (revision: number) => void,
  ): KvWatchStream {
    const stream = new KvWatchStream(what, onEnd, endedBecause, saw, toChange);
    const opening = open((entry) => stream.#onEntry(entry));
    stream.#opening = opening;
    void stream.#run(opening);
    return stream;
  }

  /** Settles once the source is open or could not be opened. */
  get opening(): Promise<unknown> {
    return this.#opening;
  }

  /** A stream whose first pull rejects with `reason`: a watch that could not start. */
  static failed(reason: unknown): KvWatchStream {
    const stream = new KvWatchStream("", () => {}, () => "");
    stream.#state = "failed";
    stream.#error = { reason };
    return stream;
  }

  /** A stream that is already over: a watch whose signal was aborted before it started. */
  static ended(): KvWatchStream {
    const stream = new KvWatchStream("", () => {}, () => "");
    stream.#state = "ended";
    return stream;
  }

  /** Ends the watch with `reason` (after the changes already received), as when its source fails. */
  fail(reason: unknown): void {
    this.#fail(reason);
  }

  /** Stops the watch; pending and later pulls resolve done. */
  end(): void {
    if (this.#state === "ended") return;
    const wasOpen = this.#state === "open";
    this.#state = "ended";
    this.#buffer = new Fifo<StorageChange>();
    this.#error = undefined;
    this.#stopSource();
    for (let w = this.#waiters.shift(); w; w = this.#waiters.shift()) w.resolve({ done: true, value: undefined });
    if (wasOpen) this.#onEnd();
  }

  /** Checks that the NATS side of the watch still exists (`deleted`: a consumer the server deleted); the watch fails if it does not. */
  verify(deleted?: string): Promise<void> {
    return this.#state === "open" && this.#source ? this.#source.verify(deleted) : Promise.resolve();
  }

  /** Resolves once the NATS side of an ended watch is gone (its consumer deleted, or that failed). */
  stopped(): Promise<void> {
    return this.#stopped;
  }

  #stopSource(): void {
    if (this.#source) this.#stopped = this.#source.stop();
  }

  next(): Promise<IteratorResult<StorageChange>> {
    if (this.#buffer.length > 0) return Promise.resolve({ done: false, value: this.#buffer.shift()! });
    if (this.#error) {
      const { reason } = this.#error;
      this.#error = undefined;
      return Promise.reject(reason);
    }
    if (this.#state !== "open") return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  return(): Promise<IteratorResult<StorageChange>> {
    this.end();
    return Promise.resolve({ done: true, value: undefined });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  #push(change: StorageChange): void {
    const waiter = this.#waiters.shift();
    // Invariant: waiters exist only while the buffer is empty, so order holds.
    if (waiter) waiter.resolve({ done: false, value: change });
    else this.#buffer.push(change);
  }

  #fail(reason: unknown): void {
    if (this.#state !== "open") return;
    this.#state = "failed";
    this.#stopSource();
    // Changes already received stay deliverable; the error comes after them.
    const first = this.#waiters.shift();
    if (first) {
      first.reject(reason);
      for (let w = this.#waiters.shift(); w; w = this.#waiters.shift()) w.resolve({ done: true, value: undefined });
    } else {
      this.#error = { reason };
    }
    this.#onEnd();
  }

  #onEntry(entry: KvWatchEntry): void {
    if (this.#state !== "open") return;
    const revision = entry.revision;
    this.#saw(revision);
    // The client's ordered consumer re-creates itself after a gap or a
    // server restart; never hand out a revision twice or out of order.
    if (revision <= this.#lastRevision) return;
    this.#lastRevision = revision;
    let change: StorageChange | undefined;
    try {
      change = this.#toChange(entry);
    } catch (error) {
      // Runs inside the client's message callback, which must not throw.
      this.#fail(new KvWatchError(`${this.what} failed: ${messageOf(error)}`, { cause: error }));
      return;
    }
    if (change) this.#push(change);
  }

  async #run(opening: Promise<KvWatchSource>): Promise<void> {
    let source: KvWatchSource;
    try {
      source = await opening;
    } catch (error) {
      this.#fail(new KvWatchError(`${this.what} could not start: ${messageOf(error)}`, { cause: error }));
      return;
    }
    if (this.#state !== "open") {
      this.#stopped = source.stop();
      return;
    }
    this.#source = source;
    const error = await source.ended;
    if (error) this.#fail(new KvWatchError(`${this.what} failed: ${messageOf(error)}`, { cause: error }));
    else this.#fail(new KvWatchError(`${this.what} ended unexpectedly: ${this.#endedBecause()}`));
  }

}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
