import type { Resource } from "../storage/resource.js";
import type { Storage, StorageChange } from "../storage/storage.js";
import type { Logger } from "./logger.js";
import type { StorageClient } from "./storage-client.js";
import { resized } from "../queue/typed-array.js";

/** What the informer needs to know about a registered kind. */
export interface WatchedKind {
  /** Skip storage changes that leave metadata.generation (and deletedAt) as they were. */
  generationChangedPredicate: boolean;
}

export interface InformerOptions {
  storage: Storage;
  /** Deletes orphans; honours their finalizers. */
  client: StorageClient;
  logger: Logger;
  /** Enqueue every resource again this often (ms); 0: never. */
  resyncMs: number;
  /** Delete resources whose owner (metadata.ownerUid, ownerKind) is gone. */
  garbageCollection: boolean;
  kind(kind: string): WatchedKind | undefined;
  kinds(): Iterable<string>;
  /** The key's handle, interned. */
  handleOf(kind: string, uid: string): number;
  /** The key's handle if it has one; interns nothing. */
  knownHandle(kind: string, uid: string): number | undefined;
  /** `low` marks bulk work (lists, resyncs) that must not crowd out real changes. */
  enqueue(h: number, reason: string, low: boolean): void;
  /** Scale-out: whether this process reconciles the key now; others are neither cached nor enqueued. */
  accepts?(key: string): boolean;
  /** Told when the watch is lost (not ready: changes go unseen) and when a relist has caught up again. */
  watchHealth?(healthy: boolean, reason: string): void;
}

const WATCH_RETRY_BASE_MS = 100;
const WATCH_RETRY_MAX_MS = 10_000;

/**
 * The controller's view of storage (client-go's informer): list, then watch;
 * a cache of the latest value per key; which changes are worth a reconcile
 * (not the controller's own writes, not status-only changes); and owner
 * garbage collection. Keyed by the queue's handles.
 */
export class Informer {
  readonly #o: InformerOptions;
  readonly #abort = new AbortController();
  #running: Promise<void> | undefined;
  #resyncTimer: ReturnType<typeof setInterval> | undefined;

  // Per handle. `cache` is the latest value seen (list, watch or own write).
  readonly #cache: (Resource | undefined)[] = [];
  // Own writes: while one is in flight, puts of that key are held (`seen*`) and
  // judged when it ends; afterwards the watch's echo of it is recognised by revision.
  #writing = new Uint8Array(1024);
  #seenCount = new Uint8Array(1024);
  #seenRevision = new Float64Array(1024);
  #lastWritten = new Float64Array(1024);
  /** ownerUid -> handles of cached resources naming it. */
  readonly #children = new Map<string, Set<number>>();

  constructor(options: InformerOptions) {
    this.#o = options;
  }

  /** Watches, then lists every kind (a change in between is seen twice, never missed). Rejects if the list fails. */
  async start(): Promise<void> {
    const watching = this.#watch();
    try {
      await this.relist("initial list");
    } catch (error) {
      this.#abort.abort();
      await watching;
      throw error;
    }
    this.#running = this.#keepWatching(watching);
    if (this.#o.resyncMs > 0) {
      this.#resyncTimer = setInterval(() => {
        this.relist("resync").catch((error) => this.#o.logger.warn({ err: error }, "periodic resync failed; the next one retries"));
      }, this.#o.resyncMs);
      // The resync alone is no reason to keep a process alive.
      (this.#resyncTimer as { unref?: () => void }).unref?.();
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#resyncTimer);
    this.#abort.abort();
    await this.#running;
  }

  /**
   * Enqueues every resource of every registered kind (that `only` accepts, and
   * this process reconciles), low priority, and refreshes the cache.
   */
  async relist(reason: string, only?: (key: string) => boolean): Promise<void> {
    const accepts = this.#o.accepts;
    for (const kind of this.#o.kinds()) {
      // With values, as an informer lists: the first reconcile of each needs no read.
      // Shared, not copied: the informer and the controller never mutate what they read.
      for (const resource of await this.#o.storage.loadAll(kind, { shareValues: true })) {
        if (only !== undefined || accepts !== undefined) {
          const key = `${kind}/${resource.uid}`;
          if ((only !== undefined && !only(key)) || (accepts !== undefined && !accepts(key))) continue;
        }
        const h = this.#o.handleOf(kind, resource.uid);
        this.#remember(h, resource);
        this.#o.enqueue(h, reason, true);
        // Only an owned resource costs an await: a list of 100k would otherwise take 100k turns.
        if (this.#o.garbageCollection && resource.metadata?.ownerUid !== undefined) await this.#collectIfOrphan(resource);
      }
    }
  }

  /** The latest value seen for `h`, if any. */
  cached(h: number): Resource | undefined {
    return this.#cache[h];
  }

  /** Storage holds something else than the cache says: read it next time. */
  invalidate(h: number): void {
    this.#setCache(h, undefined);
  }

  /** `h` now names another key (or none): forget everything about it. */
  release(h: number): void {
    this.#setCache(h, undefined);
    if (h < this.#writing.length) {
      this.#writing[h] = 0;
      this.#seenCount[h] = 0;
      this.#seenRevision[h] = 0;
      this.#lastWritten[h] = 0;
    }
  }

  /** The controller is about to write `h`. */
  beginWrite(h: number): void {
    this.#ensure(h);
    this.#writing[h] = 1;
    this.#seenCount[h] = 0;
  }

  /**
   * The write of `h` ended: `written` is the stored value with its revision
   * (undefined when the write failed or deleted). True when someone else changed
   * the key meanwhile, so it must be reconciled again.
   */
  endWrite(h: number, written: Resource | undefined): boolean {
    this.#writing[h] = 0;
    const seen = this.#seenCount[h];
    const revision = written?.metadata?.revision;
    if (written !== undefined && revision !== undefined) {
      this.#lastWritten[h] = revision;
      this.#setCache(h, written);
    }
    const foreign = revision === undefined ? seen > 0 : seen > 1 || (seen === 1 && this.#seenRevision[h] !== revision);
    if (foreign || revision === undefined) this.#setCache(h, undefined);
    return foreign;
  }

  async #watch(): Promise<void> {
    const accepts = this.#o.accepts;
    const changes = this.#o.storage.watch(undefined, {
      signal: this.#abort.signal,
      shareValues: true,
      accept: (kind, uid, revision) => {
        if (accepts !== undefined && !accepts(`${kind}/${uid}`)) return false;
        const h = this.#o.knownHandle(kind, uid);
        if (h === undefined || h >= this.#writing.length) return true;
        // A put while we write the key is judged by endWrite from its revision
        // alone; one after is dropped if it is our own. Neither needs its value.
        if (this.#writing[h] === 1) {
          this.#seenWhileWriting(h, revision);
          return false;
        }
        return this.#lastWritten[h] !== revision;
      },
    });
    try {
      for await (const change of changes) this.#onChange(change);
    } catch (error) {
      if (!this.#abort.signal.aborted) this.#o.logger.error({ err: error }, "storage watch failed");
    }
  }

  /**
   * When the watch ends while running (a lost connection, a backend error),
   * watch again and relist with backoff, so a change made meanwhile is not missed.
   */
  async #keepWatching(watching: Promise<void>): Promise<void> {
    const signal = this.#abort.signal;
    for (let failures = 1; ; failures++) {
      await watching;
      if (signal.aborted) return;
      this.#o.watchHealth?.(false, "the storage watch was lost; watching again and relisting");
      const delay = Math.min(WATCH_RETRY_MAX_MS, WATCH_RETRY_BASE_MS * 2 ** Math.min(failures - 1, 16));
      this.#o.logger.warn({ delayMs: delay }, "storage watch ended; watching again and relisting");
      if (!(await abortableDelay(delay, signal))) return;
      watching = this.#watch();
      try {
        await this.relist("relist after watch restart");
        failures = 0;
        this.#o.watchHealth?.(true, "");
      } catch (error) {
        this.#o.logger.warn({ err: error }, "relist after a watch restart failed");
      }
    }
  }

  #onChange(change: StorageChange): void {
    if (change.type === "delete" && this.#o.garbageCollection) this.#collectChildrenOf(change.kind, change.uid);
    const watched = this.#o.kind(change.kind);
    if (!watched) return;
    if (this.#o.accepts !== undefined && !this.#o.accepts(`${change.kind}/${change.uid}`)) return;
    const h = this.#o.handleOf(change.kind, change.uid);
    this.#ensure(h);
    if (change.type === "delete") {
      this.#setCache(h, undefined);
      this.#o.enqueue(h, "storage delete", false);
      return;
    }
    if (this.#writing[h] === 1) {
      // A storage that skips what `accept` turns down has counted it there already.
      if (this.#seenCount[h] === 0 || this.#seenRevision[h] !== change.revision) this.#seenWhileWriting(h, change.revision);
      return;
    }
    if (this.#lastWritten[h] === change.revision) return;
    const previous = this.#cache[h];
    this.#remember(h, change.value);
    if (watched.generationChangedPredicate && previous !== undefined && sameGeneration(previous, change.value)) return;
    this.#o.enqueue(h, "storage put", false);
  }

  /** A put of `h` while our write of it is in flight: most likely its echo; endWrite decides. */
  #seenWhileWriting(h: number, revision: number): void {
    this.#seenCount[h] = Math.min(255, this.#seenCount[h] + 1);
    this.#seenRevision[h] = revision;
  }

  /** Drops the cached values of the handles `which` selects (partitions this process gave up). */
  forget(which: (h: number) => boolean): void {
    for (let h = 0; h < this.#cache.length; h++) {
      if (this.#cache[h] !== undefined && which(h)) this.#setCache(h, undefined);
    }
  }

  /** Caches `resource` unless a newer revision is cached already (a lagging watch never rolls it back). */
  #remember(h: number, resource: Resource): void {
    const cached = this.#cache[h];
    if (cached === undefined || (cached.metadata?.revision ?? 0) < (resource.metadata?.revision ?? 0)) this.#setCache(h, resource);
  }

  #setCache(h: number, resource: Resource | undefined): void {
    const before = this.#cache[h]?.metadata?.ownerUid;
    const after = resource?.metadata?.ownerUid;
    this.#cache[h] = resource;
    if (before === after) return;
    if (before !== undefined) {
      const siblings = this.#children.get(before);
      siblings?.delete(h);
      if (siblings?.size === 0) this.#children.delete(before);
    }
    if (after !== undefined) {
      let siblings = this.#children.get(after);
      if (!siblings) this.#children.set(after, (siblings = new Set()));
      siblings.add(h);
    }
  }

  #collectChildrenOf(kind: string, uid: string): void {
    const children = this.#children.get(uid);
    if (!children) return;
    for (const h of [...children]) {
      const child = this.#cache[h];
      const ownerKind = child?.metadata?.ownerKind;
      if (!child || (ownerKind !== undefined && ownerKind !== kind)) continue;
      this.#deleteOrphan(child, `${kind}/${uid} was deleted`);
    }
  }

  async #collectIfOrphan(resource: Resource): Promise<void> {
    const { ownerUid, ownerKind } = resource.metadata ?? {};
    // Without ownerKind the owner cannot be looked up; it is still collected when its delete is seen.
    if (ownerUid === undefined || typeof ownerKind !== "string") return;
    if (!(await this.#o.storage.exists(ownerKind, ownerUid))) this.#deleteOrphan(resource, `${ownerKind}/${ownerUid} does not exist`);
  }

  #deleteOrphan(child: Resource, why: string): void {
    if (child.metadata?.deletedAt !== undefined) return;
    this.#o.logger.info({ kind: child.kind, uid: child.uid, owner: why }, "deleting a resource whose owner is gone");
    this.#o.client.delete(child.kind, child.uid).catch((error) => {
      this.#o.logger.warn({ kind: child.kind, uid: child.uid, err: error }, "garbage collection failed; the next relist retries");
    });
  }

  #ensure(h: number): void {
    if (h < this.#writing.length) return;
    let size = this.#writing.length;
    while (size <= h) size *= 2;
    this.#writing = resized(this.#writing, size);
    this.#seenCount = resized(this.#seenCount, size);
    this.#seenRevision = resized(this.#seenRevision, size);
    this.#lastWritten = resized(this.#lastWritten, size);
  }
}

/** Same generation and deletion state: a status- or metadata-only change. */
function sameGeneration(previous: Resource, next: Resource): boolean {
  const a = previous.metadata;
  const b = next.metadata;
  return a?.generation !== undefined && a.generation === b?.generation && a.deletedAt === b?.deletedAt;
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function abortableDelay(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
