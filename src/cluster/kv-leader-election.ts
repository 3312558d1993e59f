import { type NatsConnection, nuid } from "@nats-io/transport-node";
import { ClusterStateError } from "./cluster-errors.js";
import { type KvLeaderElectionOptions, type ResolvedElectionOptions, resolveElectionOptions } from "./cluster-options.js";
import { LeaseBucket, type BucketEntry } from "./lease-bucket.js";
import { LeaseKeeper, type LossReason, RENEW_FRACTION } from "./lease-keeper.js";
import { LeaseObservations } from "./lease-observations.js";
import { decodeLeaseRecord } from "./lease-record.js";

export type { KvLeaderElectionOptions } from "./cluster-options.js";

/** A change of this process's leadership, in the order they happened. */
export type LeadershipChange =
  /** This process leads from now on; `token` is the lease revision (a fence, greater than any earlier leader's). */
  | { readonly leader: true; readonly token: number }
  /**
   * This process no longer leads. "lost": the lease could not be renewed in
   * time (stop leader work at once: another process may lead after the rest of
   * the lease); "resigned": `resign()` or `close()`.
   */
  | { readonly leader: false; readonly reason: "lost" | "resigned" };

/**
 * One leader among the processes sharing `leader.<name>` in a KV bucket, with
 * the lease rules of KvSharding (docs/architecture.md, "Scale-out (as built)").
 * Campaigns from `open` on: read `isLeader`, or iterate `changes()`.
 */
export class KvLeaderElection implements AsyncDisposable {
  readonly name: string;
  readonly identity: string;
  readonly #options: ResolvedElectionOptions;
  readonly #key: string;
  readonly #bucket: LeaseBucket;
  readonly #observations = new LeaseObservations();
  readonly #keeper: LeaseKeeper;
  readonly #instance = nuid.next();
  readonly #timer: ReturnType<typeof setInterval>;
  #token: number | undefined;
  #campaigning = true;
  #acquiring = false;
  #closed = false;
  readonly #queue: LeadershipChange[] = [];
  readonly #pullers: ((result: IteratorResult<LeadershipChange>) => void)[] = [];

  private constructor(bucket: LeaseBucket, options: ResolvedElectionOptions) {
    this.#bucket = bucket;
    this.#options = options;
    this.name = options.name;
    this.identity = options.identity;
    this.#key = `leader.${options.name}`;
    this.#keeper = new LeaseKeeper(
      bucket,
      this.#observations,
      options,
      this.#instance,
      `barrier.${options.name}.${options.identity}`,
      {
        lost: (_key, reason) => this.#onLost(reason),
        renewFailed: (_key, error) => options.logger.warn(`KvLeaderElection "${this.name}": renewal failed: ${(error as Error)?.message ?? error}`),
      },
    );
    bucket.watch((entry) => this.#onEntry(entry));
    this.#timer = setInterval(() => this.#onTimer(), Math.max(1, Math.floor(options.leaseMs * RENEW_FRACTION)));
  }

  /** Binds to (or creates) the bucket and starts campaigning. Throws `ValidationError` naming a bad option. */
  static async open(nc: NatsConnection, options: KvLeaderElectionOptions): Promise<KvLeaderElection> {
    const resolved = resolveElectionOptions(options);
    const bucket = await LeaseBucket.forLeases(nc, resolved);
    const election = new KvLeaderElection(bucket, resolved);
    election.#campaign();
    return election;
  }

  /** Whether this process leads now. */
  get isLeader(): boolean {
    return this.#token !== undefined;
  }

  /** The fence token of the current leadership, when leading. */
  get token(): number | undefined {
    return this.#token;
  }

  /** The identity of the leader as this process last saw it (renewed within a lease), if any. */
  leader(): string | undefined {
    if (this.#token !== undefined) return this.identity;
    const seen = this.#observations.get(this.#key);
    const availability = this.#observations.availability(this.#key, this.#instance, this.#options.clock.now(), this.#options.leaseMs);
    return availability === "held" ? seen?.record?.holder : undefined;
  }

  /** Every change of leadership from now on; ends on `close()`. One consumer. */
  changes(): AsyncIterableIterator<LeadershipChange> {
    const iterator: AsyncIterableIterator<LeadershipChange> = {
      next: () => {
        const change = this.#queue.shift();
        if (change) return Promise.resolve({ done: false, value: change });
        if (this.#closed) return Promise.resolve({ done: true, value: undefined });
        return new Promise((resolve) => this.#pullers.push(resolve));
      },
      return: () => Promise.resolve({ done: true, value: undefined }),
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /** Gives up leadership (the lease is deleted, so another process takes over at once) and stops campaigning. */
  async resign(): Promise<void> {
    this.#campaigning = false;
    if (this.#token === undefined) return;
    this.#token = undefined;
    this.#emit({ leader: false, reason: "resigned" });
    await this.#keeper.release(this.#key);
  }

  /** Starts campaigning again after `resign()`. */
  campaign(): void {
    if (this.#closed) throw new ClusterStateError(`KvLeaderElection "${this.name}" is closed`);
    this.#campaigning = true;
    this.#campaign();
  }

  /** Resigns and stops watching; `changes()` ends. The connection stays the caller's. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.resign();
    await this.#keeper.removeBarrier();
    this.#closed = true;
    clearInterval(this.#timer);
    this.#keeper.stop();
    this.#bucket.close();
    for (const pull of this.#pullers.splice(0)) pull({ done: true, value: undefined });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #onEntry(entry: BucketEntry): void {
    if (entry.key !== this.#key) return;
    const record = entry.live ? decodeLeaseRecord(entry.value) : undefined;
    if (this.#observations.observe(entry.key, entry.revision, entry.live, record, this.#options.clock.now()) && !entry.live) this.#campaign();
  }

  #onTimer(): void {
    this.#bucket.checkWatch();
    this.#keeper.renewAll();
    this.#campaign();
  }

  #campaign(): void {
    if (!this.#campaigning || this.#closed || this.#acquiring || this.#token !== undefined || this.#keeper.coolingDown()) return;
    const { clock, leaseMs } = this.#options;
    if (this.#observations.availability(this.#key, this.#instance, clock.now(), leaseMs) === "held") return;
    this.#acquiring = true;
    void this.#keeper.acquire(this.#key).then(async (lease) => {
      this.#acquiring = false;
      if (!lease) return;
      if (!this.#campaigning || this.#closed) {
        await this.#keeper.release(this.#key);
        return;
      }
      this.#token = lease.token;
      this.#options.logger.info(`KvLeaderElection "${this.name}": ${this.identity} leads (token ${lease.token})`);
      this.#emit({ leader: true, token: lease.token });
    });
  }

  #onLost(reason: LossReason): void {
    if (this.#token === undefined) return;
    this.#token = undefined;
    this.#options.logger.warn(
      `KvLeaderElection "${this.name}": ${this.identity} lost the lead (${reason === "deadline" ? "lease not renewed in time" : "taken by another process"})`,
    );
    this.#emit({ leader: false, reason: "lost" });
  }

  #emit(change: LeadershipChange): void {
    const pull = this.#pullers.shift();
    if (pull) pull({ done: false, value: change });
    else this.#queue.push(change);
  }
}
