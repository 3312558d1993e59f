import type { Resource } from "./resource.js";

export interface SaveOptions {
  /**
   * Compare-and-swap: the revision the caller read. `0` means "must not exist yet"
   * (create). A stale revision rejects with `ConflictError`. Omitted: unconditional write.
   */
  expectedRevision?: number;
}

export interface DeleteOptions {
  /** Delete only if the stored revision is still this one; otherwise `ConflictError`. */
  expectedRevision?: number;
}

export interface ReadOptions {
  /**
   * The caller will never mutate the values it gets, so a storage may hand out
   * values it keeps instead of a copy each (the in-memory storage does; one
   * that decodes every value anyway ignores this). For readers such as a
   * controller's informer, which only compares and forwards what it reads.
   */
  shareValues?: boolean;
}

export interface WatchOptions extends ReadOptions {
  /** Ends the iteration when aborted. */
  signal?: AbortSignal;
  /**
   * The puts the reader wants, asked as each one arrives: a storage may skip
   * the rest before decoding them (deletes, which need no decoding, are
   * always delivered). A sharded informer watches a whole bucket but
   * reconciles only its partitions; every informer judges the echoes of its
   * own writes by revision alone. A hint: a storage that ignores it delivers
   * every change, and the reader must cope with being asked and then handed
   * the same change.
   */
  accept?(kind: string, uid: string, revision: number): boolean;
}

/** One change seen by `Storage.watch`. Revisions only grow. */
export type StorageChange =
  | { type: "put"; kind: string; uid: string; revision: number; value: Resource }
  | { type: "delete"; kind: string; uid: string; revision: number };

/**
 * Where resources live. Every stored value has a revision, stamped into
 * `metadata.revision` of what `load`/`loadAll` return. Values are copied in and
 * out (unless a reader asks to share them, `ReadOptions.shareValues`):
 * mutating a loaded resource never changes the store.
 */
export interface Storage {
  /** The resource, or `undefined` when it does not exist. */
  load<R extends Resource = Resource>(kind: string, uid: string): Promise<R | undefined>;
  /** Every resource of a kind. */
  loadAll<R extends Resource = Resource>(kind: string, options?: ReadOptions): Promise<R[]>;
  /** The uids of every resource of a kind. */
  list(kind: string): Promise<string[]>;
  exists(kind: string, uid: string): Promise<boolean>;
  /** Writes the resource and returns its new revision. */
  save(kind: string, uid: string, value: Resource, options?: SaveOptions): Promise<number>;
  /** Removes the resource; resolves `false` when it did not exist. */
  delete(kind: string, uid: string, options?: DeleteOptions): Promise<boolean>;
  /** Changes made after the call, in order; all kinds when `kind` is omitted. */
  watch(kind?: string, options?: WatchOptions): AsyncIterable<StorageChange>;
  close(): Promise<void>;
}
