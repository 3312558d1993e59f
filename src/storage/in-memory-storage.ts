import { checkExpected, expectedRevisionOf, parseSave } from "./save-input.js";
import { assertKind, assertUid } from "../codec/names.js";
import { ChangeStream } from "./change-stream.js";
import { deepCopy } from "../codec/deep-copy.js";
import { StorageClosedError } from "./errors.js";
import type { Resource } from "./resource.js";
import type { DeleteOptions, ReadOptions, SaveOptions, Storage, StorageChange, WatchOptions } from "./storage.js";

interface Entry {
  revision: number;
  /**
   * Carries its revision in `metadata.revision`. Never mutated once stored (a
   * save stores a new value), so change records and sharing readers may hold it.
   */
  value: Resource;
}

type ChangeRecord =
  | { type: "put"; kind: string; uid: string; revision: number; value: Resource }
  | { type: "delete"; kind: string; uid: string; revision: number };

type Watcher = ChangeStream<ChangeRecord, StorageChange>;

/**
 * A change as one watcher sees it, with its own copy of the value. Copied on
 * delivery: an object literal with a lazy getter costs V8 a runtime call
 * (~330 ns here), more than copying an everyday resource, and `value` stays
 * an own data property, as a spread or JSON.stringify of a change expects.
 */
function deliver(record: ChangeRecord): StorageChange {
  if (record.type === "delete") return { type: "delete", kind: record.kind, uid: record.uid, revision: record.revision };
  return { type: "put", kind: record.kind, uid: record.uid, revision: record.revision, value: deepCopy(record.value) };
}

/** `deliver` for a watcher that shares values: the stored value itself. */
function deliverShared(record: ChangeRecord): StorageChange {
  if (record.type === "delete") return { type: "delete", kind: record.kind, uid: record.uid, revision: record.revision };
  return { type: "put", kind: record.kind, uid: record.uid, revision: record.revision, value: record.value };
}

/**
 * Storage in this process's memory (Fabrica's `NewInMemoryStorage()`): the
 * embedded default. One revision counter orders every write, like a KV
 * stream's sequence. Every method completes its work synchronously inside its
 * promise, so a compare-and-swap can never interleave with another write.
 */
export class InMemoryStorage implements Storage {
  // Per kind, so loadAll/list of one kind never scan the others.
  #kinds = new Map<string, Map<string, Entry>>();
  #revision = 0;
  #closed = false;
  #watchAll = new Set<Watcher>();
  #watchKind = new Map<string, Set<Watcher>>();

  async load<R extends Resource = Resource>(kind: string, uid: string): Promise<R | undefined> {
    this.#assertOpen();
    assertKind(kind, "kind");
    assertUid(uid, "uid");
    const entry = this.#kinds.get(kind)?.get(uid);
    return entry && (deepCopy(entry.value) as R);
  }

  async loadAll<R extends Resource = Resource>(kind: string, options?: ReadOptions): Promise<R[]> {
    this.#assertOpen();
    assertKind(kind, "kind");
    const share = options?.shareValues === true;
    const out: Resource[] = [];
    for (const entry of this.#kinds.get(kind)?.values() ?? []) out.push(share ? entry.value : deepCopy(entry.value));
    return out as R[];
  }

  async list(kind: string): Promise<string[]> {
    this.#assertOpen();
    assertKind(kind, "kind");
    return [...(this.#kinds.get(kind)?.keys() ?? [])];
  }

  async exists(kind: string, uid: string): Promise<boolean> {
    this.#assertOpen();
    assertKind(kind, "kind");
    assertUid(uid, "uid");
    return this.#kinds.get(kind)?.has(uid) ?? false;
  }

  async save(kind: string, uid: string, value: Resource, options?: SaveOptions): Promise<number> {
    this.#assertOpen();
    // A deep copy that is ours: stamping the revision into it leaves `value` untouched.
    const { resource, expected } = parseSave(kind, uid, value, options, "copy");

    let byUid = this.#kinds.get(kind);
    const entry = byUid?.get(uid);
    checkExpected(kind, uid, expected, entry?.revision);

    const stored = resource as Resource;
    const revision = ++this.#revision;
    // The revision is the store's; a caller's copy is stale by definition.
    (stored.metadata ??= {}).revision = revision;
    if (entry) {
      // Updated in place: one Map lookup per save (nothing outside holds an entry).
      entry.revision = revision;
      entry.value = stored;
    } else {
      if (!byUid) this.#kinds.set(kind, (byUid = new Map()));
      byUid.set(uid, { revision, value: stored });
    }
    this.#notify({ type: "put", kind, uid, revision, value: stored });
    return revision;
  }

  async delete(kind: string, uid: string, options?: DeleteOptions): Promise<boolean> {
    this.#assertOpen();
    assertKind(kind, "kind");
    assertUid(uid, "uid");
    const expected = expectedRevisionOf(options);
    const byUid = this.#kinds.get(kind);
    const entry = byUid?.get(uid);
    checkExpected(kind, uid, expected, entry?.revision);
    if (!byUid || !entry) return false;

    byUid.delete(uid);
    if (byUid.size === 0) this.#kinds.delete(kind);
    const revision = ++this.#revision;
    this.#notify({ type: "delete", kind, uid, revision });
    return true;
  }

  watch(kind?: string, options?: WatchOptions): AsyncIterable<StorageChange> {
    try {
      this.#assertOpen();
      if (kind !== undefined) assertKind(kind, "kind");
    } catch (error) {
      // Reported on the first pull, like every other failure of an async call.
      return ChangeStream.failed<ChangeRecord, StorageChange>(error);
    }
    const signal = options?.signal;
    const watchers = kind === undefined ? this.#watchAll : this.#watchersOf(kind);
    const onAbort = (): void => stream.end();
    const stream: Watcher = new ChangeStream(options?.shareValues === true ? deliverShared : deliver, () => {
      watchers.delete(stream);
      if (kind !== undefined && watchers.size === 0 && this.#watchKind.get(kind) === watchers) {
        this.#watchKind.delete(kind);
      }
      signal?.removeEventListener("abort", onAbort);
    });
    if (signal?.aborted) {
      stream.end();
      return stream;
    }
    // Registered now, not on the first pull: the watch sees every change made after this call.
    watchers.add(stream);
    signal?.addEventListener("abort", onAbort, { once: true });
    return stream;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const stream of [...this.#watchAll]) stream.end();
    for (const set of [...this.#watchKind.values()]) for (const stream of [...set]) stream.end();
    this.#kinds.clear();
  }

  #watchersOf(kind: string): Set<Watcher> {
    let set = this.#watchKind.get(kind);
    if (!set) this.#watchKind.set(kind, (set = new Set()));
    return set;
  }

  #notify(record: ChangeRecord): void {
    for (const stream of this.#watchAll) stream.push(record);
    const set = this.#watchKind.get(record.kind);
    if (set) for (const stream of set) stream.push(record);
  }

  #assertOpen(): void {
    if (this.#closed) throw new StorageClosedError();
  }
}
