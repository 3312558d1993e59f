import {
  jetstream,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  PubHeaders,
} from "@nats-io/jetstream";
import { type KV, type KvEntry, KvWatchInclude, Kvm } from "@nats-io/kv";
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
import { isPayloadTooLarge } from "../nats/nats-errors.js";
import { readLatestPerSubject } from "./kv-snapshot.js";
import { KvWatchStream } from "./kv-watch.js";
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
}

const EMPTY = new Uint8Array(0);

/** The server refused a compare-and-swap: the key's last revision is not the expected one. */
function isWrongLastSequence(error: unknown): error is JetStreamApiError {
  return (
    error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamWrongLastSequence ||
      error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
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
 *   restarts). A watcher that lags more than the bucket's `history` writes of
 *   one key behind sees only the later ones; the last write of a key is always seen.
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

  private constructor(nc: NatsConnection, js: JetStreamClient, kv: KV, options: ResolvedKvStorageOptions) {
    this.#nc = nc;
    this.#js = js;
    this.#kv = kv;
    this.#stream = `KV_${options.bucket}`;
    this.#publisher = new JetStreamPublisher(nc, options.timeout);
    this.#options = options;
    this.bucket = options.bucket;
    this.#subjectPrefix = `$KV.${options.bucket}.`;
    this.#retry = { attempts: options.attempts, baseDelayMs: 100, maxDelayMs: 2000 };
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
    const kv = await withRetries(`KV bucket "${resolved.bucket}": open`, policy, new AbortController().signal, () =>
      new Kvm(js).create(resolved.bucket, { history: resolved.history, replicas: resolved.replicas }),
    );
    return new KvStorage(nc, js, kv, resolved);
  }

  async load(kind: string, uid: string): Promise<Resource | undefined> {
    this.#assertOpen();
    assertKind(kind, "kind");
    assertUid(uid, "uid");
    if (this.#starting.size > 0) await this.#watchesStarted();
    const key = kvKey(kind, uid);
    const entry = await this.#get(key, `load ${kind}/${uid}`);
    if (!entry || entry.operation !== "PUT") return undefined;
    try {
      return this.#decode(key, kind, uid, entry.value, entry.revision);
    } catch (error) {
      if (error instanceof ValidationError) this.#invalidEntries++;
      throw error;
    }
  }

  async loadAll(kind: string): Promise<Resource[]> {
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
    return loaded;
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
    const start = this.#retrying(`watch ${filter}`, () =>
      this.#kv.watch({ key: filter, include: KvWatchInclude.UpdatesOnly }),
    );
    // Requests issued after this call wait until the consumer exists, so the
    // watch sees every change made after the call (a consumer created later
    // would miss the first writes, and with history 1 even overwritten ones).
    this.#starting.add(start);
    const started = (): void => void this.#starting.delete(start);
    start.then(started, started);

    const onAbort = (): void => stream.end();
    const stream = KvWatchStream.start(
      start,
      (entry) => this.#toChange(entry),
      `KV bucket "${this.bucket}": watch of ${kind ?? "all kinds"}`,
      () => {
        this.#watchers.delete(stream);
        signal?.removeEventListener("abort", onAbort);
      },
      () => (this.#nc.isClosed() ? "the NATS connection is closed" : "the NATS watch stopped (was the bucket deleted?)"),
    );
    this.#watchers.add(stream);
    signal?.addEventListener("abort", onAbort, { once: true });
    return stream;
  }

  /** Counters since `open`; a snapshot. */
  stats(): KvStorageStats {
    return { invalidEntries: this.#invalidEntries };
  }

  /** Ends watchers; later calls reject with `StorageClosedError`. The NATS connection stays open. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort();
    this.#publisher.close(new StorageClosedError());
    for (const stream of [...this.#watchers]) stream.end();
  }

  #toChange(entry: KvEntry): StorageChange | undefined {
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

  #get(key: string, operation: string): Promise<KvEntry | null> {
    return this.#retrying(operation, () => this.#kv.get(key));
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
    return this.#retrying(operation, async () => (await this.#publisher.publish(subject, data, h)).seq);
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

  #retrying<T>(operation: string, op: () => Promise<T>): Promise<T> {
    return withRetries(`KV bucket "${this.bucket}": ${operation}`, this.#retry, this.#closing.signal, op);
  }

  /** Waits for watches started before this call to have their consumer (callers skip it when none is starting: no await per call). */
  async #watchesStarted(): Promise<void> {
    await Promise.allSettled(this.#starting);
  }

  #assertOpen(): void {
    if (this.#closed) throw new StorageClosedError();
  }
}
