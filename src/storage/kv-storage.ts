import { setMaxListeners } from "node:events";
import {
  jetstream,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  PubHeaders,
  type StreamInfo,
} from "@nats-io/jetstream";
import { type KV, type KvEntry, Kvm } from "@nats-io/kv";
import { type MsgHdrs, type NatsConnection, nuid } from "@nats-io/transport-node";
import { ValidationError } from "../codec/errors.js";
import { assertKind, assertUid } from "../codec/names.js";
import { checkExpected, expectedRevisionOf, parseSave } from "./save-input.js";
import { checkResource } from "../codec/resource-schema.js";
import { ConflictError, StorageClosedError } from "./errors.js";
import { EncodedHeaders } from "../nats/encoded-headers.js";
import { kvKey, kvWhere, parseKvKey } from "./kv-key.js";
import { type KvStorageOptions, type ResolvedKvStorageOptions, resolveKvStorageOptions } from "./kv-options.js";
import { type RetryPolicy, withRetries } from "./kv-retry.js";
import { JetStreamPublisher } from "../nats/jetstream-publisher.js";
import { isNoResponders, isPayloadTooLarge, isStreamNotFound } from "../nats/nats-errors.js";
import { readLatestPerSubject } from "./kv-snapshot.js";
import { KvWatchStream } from "./kv-watch.js";
import { type KvWatchEntry, openKvWatch } from "./kv-watch-consumer.js";
import { KvBucketGuard } from "./kv-bucket-guard.js";
import type { Resource } from "./resource.js";
import type { DeleteOptions, SaveOptions, Storage, StorageChange, WatchOptions } from "./storage.js";

export type { KvStorageLogger, KvStorageOptions } from "./kv-options.js";

/** A snapshot of a KvStorage's counters. */
export interface KvStorageStats {
  /**
   * Entries read that are not a resource converge wrote (a corrupt or foreign
   * value, a key that is not `<kind>.<uid>`): rejected by `load`, skipped by
   * `list`, `loadAll` and `watch`. Counted once per read.
   */
  readonly invalidEntries: number;
  /**
   * Times the bucket was found lost while the storage ran (deleted, or the
   * server's store wiped) and created again; each ended every watch with
   * `KvBucketResetError`.
   */
  readonly bucketResets: number;
  /** True while the bucket is known lost and not yet created again. */
  readonly bucketLost: boolean;
}

const EMPTY = new Uint8Array(0);

/** Longest `close()` waits for the server to delete the watches' consumers. */
const CLOSE_DELETE_WAIT_MS = 1000;

/** `p`, or nothing once `ms` have passed (the timer never outlives `p`). */
async function withDeadline(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([p, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** The server refused a compare-and-swap: the key's last revision is not the expected one. */
function isWrongLastSequence(error: unknown): error is JetStreamApiError {
  return (
    error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamWrongLastSequence ||
      error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** What a request meets when the bucket's stream is gone: no stream answers, or the server says so. */
function mayBeBucketLost(error: unknown): boolean {
  return isStreamNotFound(error) || isNoResponders(error);
}

/** Creates the bucket with the storage's options, or binds it when it exists alike. */
function createBucket(js: JetStreamClient, options: ResolvedKvStorageOptions): Promise<KV> {
  return new Kvm(js).create(options.bucket, { history: options.history, replicas: options.replicas });
}

/** A live resource's revision: delete markers (DEL, PURGE) are "not found". */
function liveRevision(entry: KvEntry | null): number | undefined {
  return entry && entry.operation === "PUT" ? entry.revision : undefined;
}

/**
 * A delete or purge marker, by its headers: `KV-Operation` as KV clients write
 * it, or the server's `Nats-Marker-Reason` (a key removed by its TTL).
 */
function isMarker(headers: MsgHdrs | undefined): boolean {
  if (headers === undefined) return false;
  const operation = headers.get("KV-Operation");
  return operation === "DEL" || operation === "PURGE" || headers.has("Nats-Marker-Reason");
}

/**
 * Storage in a NATS JetStream KV bucket: key `<kind>.<uid>`, value the resource
 * encoded with msgpack (or JSON) without `metadata.revision`, which is the KV
 * entry's revision (the stream sequence) stamped on every read.
 *
 * - `save` with `expectedRevision` is compare-and-swap on the server (expected
 *   last subject sequence); every write carries a `Nats-Msg-Id`, so a write
 *   retried after a timeout is applied at most once (within the stream's
 *   duplicate window, 2 minutes by default).
 * - Requests that get no answer (server away or restarting) are retried
 *   `attempts` times with backoff, then rejected with `KvUnavailableError`.
 * - `watch` is the KV watch (an ordered push consumer, which survives server
 *   restarts, deleted when the watch ends). A watcher that lags more than the
 *   bucket's `history` writes of one key behind sees only the later ones; the
 *   last write of a key is always seen.
 * - A bucket lost while the storage runs (deleted, or the server restarted
 *   with a wiped store) is noticed — the server's stream deleted or created
 *   advisory, a watch consumer deleted or missing its heartbeats, a reconnect,
 *   a request finding no stream — and the stream's creation time tells,
 *   logged, and created again with the storage's options; every watch then
 *   ends with `KvBucketResetError` (watch again and relist) and
 *   `stats().bucketResets` counts it.
 * - Entries converge cannot read (a foreign key, a corrupt or foreign value)
 *   make `load` reject with a `ValidationError` naming the key; `list`,
 *   `loadAll` and `watch` skip them and log a warning. Each such read is
 *   counted in `stats().invalidEntries`.
 *
 * The caller owns the `NatsConnection`: `close()` ends watchers but leaves it open.
 */
export class KvStorage implements Storage {
  /** The KV bucket name. */
  readonly bucket: string;
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #kv: KV;
  /** The bucket's stream. */
  readonly #stream: string;
  /** KV writes are JetStream publishes; this one pipelines them cheaply. */
  readonly #publisher: JetStreamPublisher;
  readonly #options: ResolvedKvStorageOptions;
  readonly #retry: RetryPolicy;
  /** Publish subject of a key, minus the key. */
  readonly #subjectPrefix: string;
  readonly #closing = new AbortController();
  #closed = false;
  readonly #watchers = new Set<KvWatchStream>();
  /** Watches whose consumer is being created; requests issued meanwhile wait for them. */
  readonly #starting = new Set<Promise<unknown>>();
  #invalidEntries = 0;
  readonly #guard: KvBucketGuard;

  private constructor(nc: NatsConnection, js: JetStreamClient, kv: KV, options: ResolvedKvStorageOptions, jsm: JetStreamManager, info: StreamInfo) {
    // Every operation retrying through an outage waits on this one signal:
    // hundreds at once are expected, not a leak.
    try {
      setMaxListeners(0, this.#closing.signal);
    } catch {
      // A runtime whose node:events does not take EventTargets does not warn either.
    }
    this.#nc = nc;
    this.#js = js;
    this.#kv = kv;
    this.#stream = `KV_${options.bucket}`;
    this.#publisher = new JetStreamPublisher(nc, options.timeout);
    this.#options = options;
    this.bucket = options.bucket;
    this.#subjectPrefix = `$KV.${options.bucket}.`;
    this.#retry = { attempts: options.attempts, baseDelayMs: 100, maxDelayMs: 2000 };
    this.#jsm = jsm;
    this.#guard = new KvBucketGuard(
      {
        bucket: options.bucket,
        stream: this.#stream,
        jsm,
        create: () => createBucket(js, options),
        retry: this.#retry,
        closing: this.#closing.signal,
        logger: options.logger,
        onReset: (error) => {
          for (const stream of [...this.#watchers]) stream.fail(error);
        },
      },
      info,
    );
    void this.#watchReconnects();
    // The server announces a deleted or created stream (either may be the
    // bucket lost) and a deleted consumer (a watch's, which would otherwise
    // go silent until the client misses its heartbeats, a minute).
    const advisories = [
      nc.subscribe(`$JS.EVENT.ADVISORY.STREAM.*.${this.#stream}`, { callback: () => void this.#guard.check() }),
      nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.DELETED.${this.#stream}.*`, {
        callback: (_error, msg) => {
          const deleted = msg?.subject.slice(msg.subject.lastIndexOf(".") + 1);
          for (const stream of this.#watchers) void stream.verify(deleted);
        },
      }),
    ];
    this.#closing.signal.addEventListener("abort", () => advisories.forEach((sub) => sub.unsubscribe()), { once: true });
  }

  /**
   * Binds to the bucket, creating it (with `history` and `replicas`) when
   * missing. Throws `ValidationError` naming a bad option before talking to NATS.
   */
  static async open(nc: NatsConnection, options?: KvStorageOptions): Promise<KvStorage> {
    const resolved = resolveKvStorageOptions(options);
    if (typeof (nc as Partial<NatsConnection> | undefined)?.request !== "function") {
      throw new ValidationError("nc", "must be a NatsConnection (from connect() of @nats-io/transport-node)");
    }
    if (nc.isClosed()) throw new ValidationError("nc", "is closed");
    const js = jetstream(nc, { timeout: resolved.timeout });
    const policy: RetryPolicy = { attempts: resolved.attempts, baseDelayMs: 100, maxDelayMs: 2000 };
    const never = new AbortController().signal;
    const kv = await withRetries(`KV bucket "${resolved.bucket}": open`, policy, never, () => createBucket(js, resolved));
    const jsm = await js.jetstreamManager(false);
    const info = await withRetries(`KV bucket "${resolved.bucket}": stream info`, policy, never, () => jsm.streams.info(`KV_${resolved.bucket}`));
    return new KvStorage(nc, js, kv, resolved, jsm, info);
  }

  async load<R extends Resource = Resource>(kind: string, uid: string): Promise<R | undefined> {
    this.#assertOpen();
    assertKind(kind, "kind");
    assertUid(uid, "uid");
    if (this.#starting.size > 0) await this.#watchesStarted();
    const key = kvKey(kind, uid);
    const entry = await this.#get(key, `load ${kind}/${uid}`);
    if (!entry || entry.operation !== "PUT") return undefined;
    try {
      return this.#decode(key, kind, uid, entry.value, entry.revision) as R;
    } catch (error) {
      if (error instanceof ValidationError) this.#invalidEntries++;
      throw error;
    }
  }

  async loadAll<R extends Resource = Resource>(kind: string): Promise<R[]> {
    this.#assertOpen();
    assertKind(kind, "kind");
    if (this.#starting.size > 0) await this.#watchesStarted();
    const entries = await this.#retrying(`loadAll ${kind}`, () =>
      readLatestPerSubject(this.#js, this.#stream, `${this.#subjectPrefix}${kind}.*`, { inactivityMs: this.#options.timeout }, (m) => ({
        subject: m.subject,
        revision: m.seq,
        // Deleted or purged: a marker, which has no body.
        bytes: m.data.length === 0 ? (isMarker(m.headers) ? undefined : EMPTY) : m.data.slice(),
      })),
    );
    const loaded: Resource[] = [];
    for (const { subject, revision, bytes } of entries) {
      if (bytes === undefined) continue;
      const key = subject.slice(this.#subjectPrefix.length);
      const name = parseKvKey(key);
      if (!name) {
        this.#skip("loadAll", this.#foreignKey(key));
        continue;
      }
      try {
        loaded.push(this.#decode(key, name.kind, name.uid, bytes, revision));
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        this.#skip("loadAll", error);
      }
    }
    return loaded as R[];
  }

  async list(kind: string): Promise<string[]> {
    this.#assertOpen();
    assertKind(kind, "kind");
    if (this.#starting.size > 0) await this.#watchesStarted();
    const entries = await this.#retrying(`list ${kind}`, () =>
      readLatestPerSubject(
        this.#js,
        this.#stream,
        `${this.#subjectPrefix}${kind}.*`,
        { inactivityMs: this.#options.timeout, headersOnly: true },
        (m) => ({ subject: m.subject, live: !isMarker(m.headers) }),
      ),
    );
    const uids: string[] = [];
    for (const { subject, live } of entries) {
      if (!live) continue;
      const key = subject.slice(this.#subjectPrefix.length);
      const name = parseKvKey(key);
      if (name) uids.push(name.uid);
      else this.#skip("list", this.#foreignKey(key));
    }
    return uids;
  }

  async exists(kind: string, uid: string): Promise<boolean> {
    this.#assertOpen();
    assertKind(kind, "kind");
    assertUid(uid, "uid");
    if (this.#starting.size > 0) await this.#watchesStarted();
    return liveRevision(await this.#get(kvKey(kind, uid), `exists ${kind}/${uid}`)) !== undefined;
  }

  async save(kind: string, uid: string, value: Resource, options?: SaveOptions): Promise<number> {
    this.#assertOpen();
    // Fresh top level and metadata: removing the revision leaves `value` untouched.
    const { resource, expected } = parseSave(kind, uid, value, options, "encode");
    // The revision is the entry's, stamped on every read; a caller's copy is stale by definition.
    if (resource.metadata) delete resource.metadata.revision;
    let bytes: Uint8Array;
    try {
      bytes = this.#options.codec.encode(resource);
    } catch (cause) {
      throw new ValidationError("value", `cannot be stored: ${(cause as Error).message}`, { cause });
    }
    if (this.#starting.size > 0) await this.#watchesStarted();

    const key = kvKey(kind, uid);
    const what = `save ${kind}/${uid}`;
    try {
      return await this.#publish(key, bytes, expected, what);
    } catch (error) {
      if (isPayloadTooLarge(error)) {
        const max = this.#nc.info?.max_payload;
        throw new ValidationError("value", `is ${bytes.length} bytes encoded: more than the NATS server takes in one message (max_payload ${max ?? "unknown"})`, { cause: error });
      }
      if (expected === undefined || !isWrongLastSequence(error)) throw error;
      if (expected > 0) throw new ConflictError(kind, uid, expected, await this.#actualRevision(key, error));
      // Create: a key whose last entry is a delete marker may be created again,
      // by compare-and-swap on that marker (what the KV client's create does).
      const entry = await this.#get(key, what);
      if (!entry || entry.operation === "PUT") throw new ConflictError(kind, uid, 0, liveRevision(entry));
      try {
        return await this.#publish(key, bytes, entry.revision, what);
      } catch (again) {
        if (!isWrongLastSequence(again)) throw again;
        throw new ConflictError(kind, uid, 0, await this.#actualRevision(key, again));
      }
    }
  }

  async delete(kind: string, uid: string, options?: DeleteOptions): Promise<boolean> {
    this.#assertOpen();
    assertKind(kind, "kind");
    assertUid(uid, "uid");
    const expected = expectedRevisionOf(options);
    if (this.#starting.size > 0) await this.#watchesStarted();
    const key = kvKey(kind, uid);
    const what = `delete ${kind}/${uid}`;
    for (;;) {
      const current = liveRevision(await this.#get(key, what));
      checkExpected(kind, uid, expected, current);
      if (current === undefined) return false;
      try {
        // Compare-and-swap even without an expected revision: `true` must mean this call deleted it.
        await this.#publish(key, EMPTY, current, what, "DEL");
        return true;
      } catch (error) {
        if (!isWrongLastSequence(error)) throw error;
        if (expected !== undefined) throw new ConflictError(kind, uid, expected, await this.#actualRevision(key, error));
        // Written in between: look again.
      }
    }
  }

  watch(kind?: string, options?: WatchOptions): AsyncIterable<StorageChange> {
    try {
      this.#assertOpen();
      if (kind !== undefined) assertKind(kind, "kind");
    } catch (error) {
      // Reported on the first pull, like every other failure of an async call.
      return KvWatchStream.failed(error);
    }
    const signal = options?.signal;
    if (signal?.aborted) return KvWatchStream.ended();
    const filter = kind === undefined ? ">" : `${kind}.*`;
    const onAbort = (): void => stream.end();
    const stream = KvWatchStream.start(
      (onEntry) =>
        this.#retrying(`watch ${filter}`, () =>
          openKvWatch(this.#js, this.#jsm, this.#stream, this.#subjectPrefix, filter, () => void this.#guard.check(), onEntry),
        ),
      (entry) => this.#toChange(entry, options?.accept),
      `KV bucket "${this.bucket}": watch of ${kind ?? "all kinds"}`,
      () => {
        this.#watchers.delete(stream);
        signal?.removeEventListener("abort", onAbort);
      },
      () => (this.#nc.isClosed() ? "the NATS connection is closed" : "the NATS watch stopped (was the bucket deleted?)"),
      (revision) => this.#guard.saw(revision),
    );
    // Requests issued after this call wait until the consumer exists, so the
    // watch sees every change made after the call (a consumer created later
    // would miss the first writes, and with history 1 even overwritten ones).
    const opening = stream.opening;
    this.#starting.add(opening);
    const started = (): void => void this.#starting.delete(opening);
    opening.then(started, started);
    this.#watchers.add(stream);
    signal?.addEventListener("abort", onAbort, { once: true });
    return stream;
  }

  /** Counters since `open`; a snapshot. */
  stats(): KvStorageStats {
    return { invalidEntries: this.#invalidEntries, bucketResets: this.#guard.resets, bucketLost: this.#guard.lost };
  }

  /**
   * Ends watchers and deletes their consumers (waiting at most a second for
   * the server); later calls reject with `StorageClosedError`. The NATS
   * connection stays open.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort();
    this.#publisher.close(new StorageClosedError());
    const watchers = [...this.#watchers];
    for (const stream of watchers) stream.end();
    // Their consumers deleted, so nothing of ours is left on the server; bounded, as a server that went away never answers.
    await withDeadline(Promise.all(watchers.map((stream) => stream.stopped())), Math.min(this.#options.timeout, CLOSE_DELETE_WAIT_MS));
  }

  /** A server the client reconnected to may have lost its store, or expired our watch consumers: look. */
  async #watchReconnects(): Promise<void> {
    const status = this.#nc.status();
    // The client's status iterator (a QueuedIterator) ends on stop().
    this.#closing.signal.addEventListener("abort", () => (status as { stop?: () => void }).stop?.(), { once: true });
    for await (const s of status) {
      if (s.type !== "reconnect") continue;
      void this.#guard.check();
      for (const stream of this.#watchers) void stream.verify();
    }
  }

  #toChange(entry: KvWatchEntry, accept: WatchOptions["accept"]): StorageChange | undefined {
    const name = parseKvKey(entry.key);
    if (!name) {
      this.#skip("watch", this.#foreignKey(entry.key));
      return undefined;
    }
    const { kind, uid } = name;
    const revision = entry.revision;
    const bytes = entry.value;
    // Delete and purge markers have no body (ADR-8), and every stored resource
    // has one; reading `operation` decodes all the message's headers, which
    // every write carries (message id, expected sequence) and which cost more
    // than the rest of this echo's handling.
    if (bytes.length === 0 && entry.operation !== "PUT") return { type: "delete", kind, uid, revision };
    // Another process's key, or the echo of the reader's own write: not worth decoding.
    if (accept !== undefined && !accept(kind, uid, revision)) return undefined;
    try {
      return { type: "put", kind, uid, revision, value: this.#decode(entry.key, kind, uid, bytes, revision) };
    } catch (error) {
      this.#skip("watch", error);
      return undefined;
    }
  }

  /** The stored bytes as a resource with its revision; `ValidationError` naming the key when they are not one. */
  #decode(key: string, kind: string, uid: string, bytes: Uint8Array, revision: number): Resource {
    const where = kvWhere(this.bucket, key);
    const resource = checkResource(this.#options.codec.decode(bytes, where), where, kind, uid) as Resource;
    if (resource.kind !== kind) {
      throw new ValidationError(`${where}.kind`, `${JSON.stringify(resource.kind)} does not match the key's kind ${JSON.stringify(kind)}`);
    }
    if (resource.uid !== uid) {
      throw new ValidationError(`${where}.uid`, `${JSON.stringify(resource.uid)} does not match the key's uid ${JSON.stringify(uid)}`);
    }
    (resource.metadata ??= {}).revision = revision;
    return resource;
  }

  #foreignKey(key: string): ValidationError {
    return new ValidationError(kvWhere(this.bucket, key), "is not a <kind>.<uid> key of valid names");
  }

  #skip(operation: string, error: unknown): void {
    this.#invalidEntries++;
    this.#options.logger.warn({ bucket: this.bucket, operation, err: error }, `KV bucket: ${operation} skips an unreadable entry`);
  }

  async #get(key: string, operation: string): Promise<KvEntry | null> {
    const entry = await this.#retrying(operation, () => this.#kv.get(key));
    if (entry) this.#guard.saw(entry.revision);
    return entry;
  }

  /**
   * One write (a put, or a delete marker), compare-and-swap when `expected` is
   * given. Its message id is the same in every attempt, so the stream applies
   * it at most once however many attempts reach the server.
   */
  #publish(key: string, data: Uint8Array, expected: number | undefined, operation: string, kvOperation?: "DEL"): Promise<number> {
    // Built once: every retry carries the same message id, so the stream stores the write once.
    const entries: [string, string][] = [[PubHeaders.MsgIdHdr, nuid.next()]];
    if (expected !== undefined) entries.push([PubHeaders.ExpectedLastSubjectSequenceHdr, `${expected}`]);
    if (kvOperation) entries.push(["KV-Operation", kvOperation]);
    const h = new EncodedHeaders(entries);
    const subject = this.#subjectPrefix + key;
    return this.#retrying(operation, async () => {
      const { seq } = await this.#publisher.publish(subject, data, h);
      this.#guard.saw(seq);
      return seq;
    });
  }

  /** The revision that beat a compare-and-swap, for the ConflictError. */
  async #actualRevision(key: string, error: JetStreamApiError): Promise<number | undefined> {
    try {
      return liveRevision(await this.#kv.get(key));
    } catch {
      // The server's answer names the last sequence of the key (0: none).
      const last = Number(/wrong last sequence: (\d+)/.exec(error.message)?.[1] ?? 0);
      return last > 0 ? last : undefined;
    }
  }

  /**
   * `op` with retries. A request that finds no stream (a publish without
   * responders, a read of a missing stream) has the guard look at the bucket
   * first; once it is back, the attempt is made again.
   */
  #retrying<T>(operation: string, op: () => Promise<T>): Promise<T> {
    const guarded = (): Promise<T> =>
      op().catch(async (error: unknown) => {
        if (!mayBeBucketLost(error) || !(await this.#guard.check())) throw error;
        return op();
      });
    return withRetries(`KV bucket "${this.bucket}": ${operation}`, this.#retry, this.#closing.signal, guarded);
  }

  /** Waits for watches started before this call to have their consumer (callers skip it when none is starting: no await per call). */
  async #watchesStarted(): Promise<void> {
    await Promise.allSettled(this.#starting);
  }

  #assertOpen(): void {
    if (this.#closed) throw new StorageClosedError();
  }
}
