import { jetstream } from "@nats-io/jetstream";
import { type KV, type KvEntry, Kvm } from "@nats-io/kv";
import type { NatsConnection, QueuedIterator } from "@nats-io/transport-node";
import { ValidationError } from "../codec/errors.js";
import { isTransient } from "../nats/nats-errors.js";
import type { ClusterLogger, ResolvedLeaseOptions } from "./cluster-options.js";

/** One key's state as the bucket reports it (a watch entry or a read). */
export interface BucketEntry {
  readonly key: string;
  readonly revision: number;
  /** A value is there (not a delete or purge marker). */
  readonly live: boolean;
  readonly value: Uint8Array;
}

export interface LeaseBucketOptions {
  readonly bucket: string;
  readonly replicas: number;
  /** Wait for one write's answer; shorter than the renew period so a stuck write never delays the next. */
  readonly requestTimeoutMs: number;
  readonly logger: ClusterLogger;
  /** Local monotonic time, for the watch's health check. */
  readonly now: () => number;
  /** A watch that has not delivered this process's own acknowledged write this long after it was made is restarted. */
  readonly watchStaleMs: number;
}

/**
 * The KV bucket that holds leases and member keys, as lease code needs it:
 * compare-and-swap writes and deletes, reads, and one watch of every key (2.9
 * allows one filter subject per watcher), restarted if it ends by itself.
 */
export class LeaseBucket {
  readonly name: string;
  readonly #nc: NatsConnection;
  readonly #kv: KV;
  readonly #options: LeaseBucketOptions;
  #watch: QueuedIterator<KvEntry> | undefined;
  #closed = false;
  /** Highest revision the watch delivered. */
  #watched = 0;
  /** Waiting for a condition the watch may fulfil. */
  readonly #waiters = new Set<() => void>();
  /** Our oldest acknowledged write the watch has not delivered yet: revision and when it was acknowledged. */
  #unseen: { revision: number; at: number } | undefined;

  private constructor(nc: NatsConnection, kv: KV, options: LeaseBucketOptions) {
    this.#nc = nc;
    this.#kv = kv;
    this.#options = options;
    this.name = options.bucket;
  }

  /** The bucket for lease options: writes wait a quarter lease at most, a watch silent for half a lease is restarted. */
  static forLeases(nc: NatsConnection, options: ResolvedLeaseOptions): Promise<LeaseBucket> {
    return LeaseBucket.open(nc, {
      bucket: options.bucket,
      replicas: options.replicas,
      requestTimeoutMs: Math.max(50, Math.floor(options.leaseMs / 4)),
      logger: options.logger,
      now: () => options.clock.now(),
      watchStaleMs: options.leaseMs / 2,
    });
  }

  /** Binds to the bucket, creating it (history 1, `replicas`) when missing; retries while JetStream is not answering. */
  static async open(nc: NatsConnection, options: LeaseBucketOptions): Promise<LeaseBucket> {
    if (typeof (nc as Partial<NatsConnection> | undefined)?.request !== "function") {
      throw new ValidationError("nc", "must be a NatsConnection (from connect() of @nats-io/transport-node)");
    }
    if (nc.isClosed()) throw new ValidationError("nc", "is closed");
    const js = jetstream(nc, { timeout: Math.max(options.requestTimeoutMs, 2000) });
    for (let attempt = 1; ; attempt++) {
      try {
        const kv = await new Kvm(js).create(options.bucket, { history: 1, replicas: options.replicas });
        return new LeaseBucket(nc, kv, options);
      } catch (error) {
        if (!isTransient(error) || attempt >= 5) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
  }

  /** Writes `value` if the key's last revision is `previous` (0: never written); the new revision. Rejects on a conflict (`isWrongLastSequence`) or no answer. */
  async write(key: string, value: Uint8Array, previous: number): Promise<number> {
    const revision = await this.#kv.put(key, value, { previousSeq: previous, timeout: this.#options.requestTimeoutMs });
    if (revision > this.#watched && this.#unseen === undefined) this.#unseen = { revision, at: this.#options.now() };
    return revision;
  }

  /**
   * Restarts the watch when it has fallen silent: one of this process's own
   * acknowledged writes (a renewal comes every third of a lease) has not come
   * through it within `watchStaleMs`. The client's ordered consumer notices a
   * lost server only after missing its 5 s heartbeats, longer than a short
   * lease; meanwhile this process would see no renewal of anyone's and call
   * every other member dead (CAS keeps that safe, but it is wrong).
   */
  checkWatch(): void {
    const unseen = this.#unseen;
    if (!unseen || this.#closed || this.#options.now() - unseen.at < this.#options.watchStaleMs) return;
    this.#unseen = undefined;
    this.#options.logger.warn(`KV bucket "${this.name}": the lease watch fell silent (revision ${unseen.revision} not delivered): restarting it`);
    this.#watch?.stop();
  }

  /** Writes `value` unconditionally; the new revision. */
  put(key: string, value: Uint8Array): Promise<number> {
    return this.#kv.put(key, value, { timeout: this.#options.requestTimeoutMs });
  }

  /** Highest revision the watch has delivered. */
  get watched(): number {
    return this.#watched;
  }

  /** Resolves true once the watch has delivered `revision` (or later), false after `timeoutMs` or on close. */
  waitForRevision(revision: number, timeoutMs: number): Promise<boolean> {
    return this.waitFor(() => this.#watched >= revision, timeoutMs);
  }

  /** Resolves true once `done()` holds (checked now and after each watch entry is handled), false after `timeoutMs` or on close. */
  waitFor(done: () => boolean, timeoutMs: number): Promise<boolean> {
    if (done()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const finish = (reached: boolean): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(reached);
      };
      const check = (): void => {
        if (done()) finish(true);
        else if (this.#closed) finish(false);
      };
      const timer = timeoutMs === Infinity ? undefined : setTimeout(() => finish(done()), Math.max(0, timeoutMs));
      this.#waiters.add(check);
    });
  }

  /** Deletes the key if its last revision is `previous`. */
  remove(key: string, previous: number): Promise<void> {
    return this.#kv.delete(key, { previousSeq: previous });
  }

  async read(key: string): Promise<BucketEntry | undefined> {
    const entry = await this.#kv.get(key);
    return entry ? toBucketEntry(entry) : undefined;
  }

  /**
   * Calls `onEntry` for the last value of every key, then for every change, in
   * revision order. A watch that ends by itself (its consumer lost) is started
   * again, replaying last values; `onEntry` must ignore revisions it has seen.
   */
  watch(onEntry: (entry: BucketEntry) => void): void {
    void this.#runWatch(onEntry);
  }

  /** Stops the watch; the connection stays the caller's. */
  close(): void {
    this.#closed = true;
    this.#watch?.stop();
    for (const check of [...this.#waiters]) check();
  }

  async #runWatch(onEntry: (entry: BucketEntry) => void): Promise<void> {
    let delay = 50;
    while (!this.#closed && !this.#nc.isClosed()) {
      try {
        const watch = await this.#kv.watch({ key: ">" });
        if (this.#closed) {
          watch.stop();
          return;
        }
        this.#watch = watch;
        delay = 50;
        for await (const entry of watch) {
          if (entry.revision > this.#watched) this.#watched = entry.revision;
          if (this.#unseen && this.#watched >= this.#unseen.revision) this.#unseen = undefined;
          onEntry(toBucketEntry(entry));
          for (const check of [...this.#waiters]) check();
        }
      } catch (error) {
        if (this.#closed || this.#nc.isClosed()) return;
        this.#options.logger.warn(`KV bucket "${this.name}": lease watch failed, restarting: ${(error as Error)?.message ?? error}`);
      }
      if (this.#closed || this.#nc.isClosed()) return;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 2000);
    }
  }
}

function toBucketEntry(entry: KvEntry): BucketEntry {
  return { key: entry.key, revision: entry.revision, live: entry.operation === "PUT", value: entry.value };
}
