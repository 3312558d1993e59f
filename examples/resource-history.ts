// Every version of one kind's resources that storage reports, so an example can
// show what the controller wrote over time and wait for a state without sleeping.
import type { Resource, Storage, StorageChange } from "../src/index.js";

interface Waiter<R> {
  uid: string;
  what: string;
  done: (version: R | undefined) => boolean;
  resolve: (version: R | undefined) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Records every put and delete of `kind` from the moment it is constructed
 * (create it before the writes you want to see). A deleted resource's version
 * is `undefined`.
 */
export class ResourceHistory<R extends Resource = Resource> {
  readonly kind: string;
  readonly #versions = new Map<string, (R | undefined)[]>();
  readonly #waiters = new Set<Waiter<R>>();
  readonly #abort = new AbortController();
  readonly #consuming: Promise<void>;

  constructor(storage: Storage, kind: string) {
    this.kind = kind;
    // Registered now, not on the first pull: nothing written after this line is missed.
    this.#consuming = this.#consume(storage.watch(kind, { signal: this.#abort.signal }));
  }

  /** Versions of `uid` in the order they were written. */
  versions(uid: string): readonly (R | undefined)[] {
    return this.#versions.get(uid) ?? [];
  }

  /**
   * Resolves with the first version of `uid`, recorded already or still to
   * come, that `done` accepts; rejects after `timeoutMs` naming what it
   * waited for.
   */
  waitFor(uid: string, done: (version: R | undefined) => boolean, timeoutMs = 5_000, what = "the expected state"): Promise<R | undefined> {
    const versions = this.versions(uid);
    const index = versions.findIndex(done);
    if (index >= 0) return Promise.resolve(versions[index]);
    return new Promise((resolve, reject) => {
      const waiter: Waiter<R> = {
        uid,
        what,
        done,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.delete(waiter);
          reject(new Error(`${this.kind}/${uid} did not reach ${what} within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.#waiters.add(waiter);
    });
  }

  /** Ends the watch; pending waits reject. */
  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#consuming;
    for (const waiter of this.#waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error(`${this.kind}/${waiter.uid}: history stopped before ${waiter.what} was seen`));
    }
    this.#waiters.clear();
  }

  async #consume(changes: AsyncIterable<StorageChange>): Promise<void> {
    for await (const change of changes) {
      const version = change.type === "put" ? (change.value as R) : undefined;
      let list = this.#versions.get(change.uid);
      if (!list) this.#versions.set(change.uid, (list = []));
      list.push(version);
      for (const waiter of this.#waiters) {
        if (waiter.uid !== change.uid || !waiter.done(version)) continue;
        clearTimeout(waiter.timer);
        this.#waiters.delete(waiter);
        waiter.resolve(version);
      }
    }
  }
}
