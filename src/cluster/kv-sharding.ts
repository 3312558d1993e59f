import { type NatsConnection, nuid } from "@nats-io/transport-node";
import type { Clock } from "./clock.js";
import { ClusterStateError, DuplicateIdentityError, PartitionsMismatchError } from "./cluster-errors.js";
import { type ClusterLogger, type KvShardingOptions, type ResolvedShardingOptions, resolveShardingOptions } from "./cluster-options.js";
import { fairShare, planShare, preferenceOrder } from "./fair-share.js";
import { LeaseBucket, type BucketEntry } from "./lease-bucket.js";
import { LeaseKeeper, type LossReason, RENEW_FRACTION } from "./lease-keeper.js";
import { LeaseObservations } from "./lease-observations.js";
import { decodeLeaseRecord } from "./lease-record.js";
import { partitionOf } from "./partition-hash.js";
import type { Fence, Sharding, ShardingMember, ShardingStats } from "./sharding.js";

export type { KvShardingOptions, ClusterLogger } from "./cluster-options.js";

const LEASE = "lease.";
const MEMBER = "member.";
/** Written to confirm acquisitions (LeaseKeeper); one per identity. */
const BARRIER = "barrier.";

// A partition's phase in this process. Invariant: `owns(p)` (the typed array)
// is 1 exactly in OWNED; every other phase has stopped dispatching.
const IDLE = 0;
const ACQUIRING = 1;
const OWNED = 2;
/** Revoked (hand-over or lost), waiting for the member to resolve; the lease is still renewed until lost. */
const REVOKING = 3;
/** Revoke resolved; the lease is being deleted. */
const RELEASING = 4;

/**
 * Partitions of the key space shared among processes through leases in a
 * JetStream KV bucket (`lease.<p>`, `member.<identity>`): see "Scale-out (as
 * built)" in docs/architecture.md for the protocol and its timings.
 */
export class KvSharding implements Sharding, AsyncDisposable {
  readonly partitions: number;
  readonly identity: string;
  readonly #options: ResolvedShardingOptions;
  readonly #clock: Clock;
  readonly #log: ClusterLogger;
  readonly #bucket: LeaseBucket;
  readonly #observations = new LeaseObservations();
  readonly #keeper: LeaseKeeper;
  readonly #instance = nuid.next();
  readonly #memberKey: string;
  readonly #order: Int32Array;
  readonly #owns: Uint8Array;
  readonly #phase: Uint8Array;
  readonly #fences: (Fence | undefined)[];
  /** Revokes "lost" still running, per partition: the partition stays out of reach until they end. */
  readonly #lostRevokes = new Map<number, Promise<void>>();
  /** Acquisitions and hand-overs in flight, so `leave` can wait for them. */
  readonly #transitions = new Set<Promise<void>>();
  #member: ShardingMember | undefined;
  #state: "open" | "joining" | "joined" | "leaving" | "left" = "open";
  #timer: ReturnType<typeof setInterval> | undefined;
  #rebalanceQueued = false;
  #ownedCount = 0;
  #acquiring = 0;
  #gcTried = new Set<string>();
  #renewWarnedAt = -Infinity;
  #renewFailuresUnreported = 0;
  #announcing = false;
  #stats = { handoversIn: 0, handoversOut: 0, leasesLost: 0, renewFailures: 0 };

  private constructor(bucket: LeaseBucket, options: ResolvedShardingOptions) {
    this.#bucket = bucket;
    this.#options = options;
    this.#clock = options.clock;
    this.#log = options.logger;
    this.partitions = options.partitions;
    this.identity = options.identity;
    this.#memberKey = `${MEMBER}${options.identity}`;
    this.#order = preferenceOrder(options.identity, options.partitions);
    this.#owns = new Uint8Array(options.partitions);
    this.#phase = new Uint8Array(options.partitions);
    this.#fences = new Array<Fence | undefined>(options.partitions).fill(undefined);
    this.#keeper = new LeaseKeeper(
      bucket,
      this.#observations,
      options,
      this.#instance,
      `${BARRIER}${options.identity}`,
      { lost: (key, reason) => this.#onLost(key, reason), renewFailed: (key, error) => this.#onRenewFailed(key, error) },
      options.partitions,
    );
    bucket.watch((entry) => this.#onEntry(entry));
  }

  /**
   * Binds to (or creates) the bucket and starts watching it. Throws
   * `ValidationError` naming a bad option before talking to NATS. The caller
   * owns `nc`; `leave()` stops using it.
   */
  static async open(nc: NatsConnection, options: KvShardingOptions): Promise<KvSharding> {
    const resolved = resolveShardingOptions(options);
    const bucket = await LeaseBucket.forLeases(nc, resolved);
    return new KvSharding(bucket, resolved);
  }

  partitionOf(key: string): number {
    return partitionOf(key, this.partitions);
  }

  owns(partition: number): boolean {
    return this.#owns[partition] === 1;
  }

  fence(partition: number): Fence | undefined {
    return this.#fences[partition];
  }

  stats(): ShardingStats {
    return { owned: this.#ownedCount, members: this.#liveMembers().length, ...this.#stats };
  }

  /**
   * Announces this member (`member.<identity>`) and starts taking its fair
   * share. Rejects with `DuplicateIdentityError` when another live process
   * announces the same identity (it takes up to one lease to tell a live one
   * from a dead one's leftover key), and with `PartitionsMismatchError` when
   * a live member uses another partition count.
   */
  async join(member: ShardingMember): Promise<void> {
    if (this.#state !== "open") throw new ClusterStateError(`KvSharding "${this.identity}": join() may be called once, before leave()`);
    this.#member = member;
    this.#state = "joining";
    try {
      await this.#announce();
      this.#checkPartitions();
    } catch (error) {
      if (error instanceof PartitionsMismatchError) await this.#keeper.release(this.#memberKey);
      this.#state = "left";
      this.#keeper.stop();
      this.#bucket.close();
      throw error;
    }
    if ((this.#state as string) !== "joining") return;
    this.#state = "joined";
    this.#timer = setInterval(() => this.#onTimer(), Math.max(1, Math.floor(this.#options.leaseMs * RENEW_FRACTION)));
    this.#rebalance();
  }

  async leave(): Promise<void> {
    if (this.#state === "left" || this.#state === "leaving") return;
    const wasJoined = this.#state === "joined";
    this.#state = "leaving";
    if (wasJoined) {
      // Renewals go on (the timer stays) while members finish their hand-overs.
      while (this.#transitions.size > 0) await Promise.allSettled([...this.#transitions]);
      const handovers: Promise<void>[] = [];
      for (let p = 0; p < this.partitions; p++) if (this.#phase[p] === OWNED) handovers.push(this.#track(this.#handOver(p)));
      await Promise.allSettled(handovers);
      while (this.#transitions.size > 0) await Promise.allSettled([...this.#transitions]);
      await Promise.allSettled([...this.#lostRevokes.values()]);
    }
    await this.#keeper.release(this.#memberKey);
    await this.#keeper.removeBarrier();
    clearInterval(this.#timer);
    this.#keeper.stop();
    this.#bucket.close();
    this.#state = "left";
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.leave();
  }

  // --- membership ---------------------------------------------------------

  async #announce(): Promise<void> {
    const key = this.#memberKey;
    const leaseMs = this.#options.leaseMs;
    for (;;) {
      if (this.#state !== "joining") return;
      const availability = this.#observations.availability(key, this.#instance, this.#clock.now(), leaseMs);
      if (availability === "held") {
        // Another instance's key: live if it changes within a lease, a dead one's leftover if not.
        const seen = this.#observations.get(key)!;
        const changed = await this.#bucket.waitFor(
          () => this.#observations.get(key)!.revision !== seen.revision,
          seen.seenAt + leaseMs + 1 - this.#clock.now(),
        );
        const now = this.#observations.get(key)!;
        if (changed && now.live && now.record?.instance !== this.#instance) throw new DuplicateIdentityError(this.identity, this.#bucket.name);
        continue;
      }
      const lease = await this.#keeper.acquire(key);
      if (lease) {
        // Joined once the watch has passed our own write: the last values of
        // every key came before it, so "never seen" now means "free".
        await this.#bucket.waitForRevision(lease.revision, Infinity);
        return;
      }
      if (this.#observations.availability(key, this.#instance, this.#clock.now(), leaseMs) !== "held") {
        // NATS did not answer (or a race): try again shortly.
        await this.#bucket.waitFor(() => false, Math.min(200, leaseMs / 4));
      }
    }
  }

  /** Refuses to start beside a live member with another partition count: the same key would be in two partitions. */
  #checkPartitions(): void {
    for (const [key, seen] of this.#observations.live(MEMBER, this.#clock.now(), this.#options.leaseMs)) {
      const theirs = seen.record?.partitions;
      if (theirs !== undefined && theirs !== this.partitions) {
        throw new PartitionsMismatchError(this.partitions, key.slice(MEMBER.length), theirs, this.#bucket.name);
      }
    }
  }

  #liveMembers(): string[] {
    const names: string[] = [];
    for (const [key] of this.#observations.live(MEMBER, this.#clock.now(), this.#options.leaseMs)) names.push(key.slice(MEMBER.length));
    if (this.#state === "joined" && !names.includes(this.identity)) names.push(this.identity);
    return names;
  }

  // --- events -------------------------------------------------------------

  #onEntry(entry: BucketEntry): void {
    const news = this.#observations.observe(
      entry.key,
      entry.revision,
      entry.live,
      entry.live ? decodeLeaseRecord(entry.value) : undefined,
      this.#clock.now(),
    );
    if (news && this.#state === "joined" && !entry.key.startsWith(BARRIER)) this.#queueRebalance();
  }

  #onTimer(): void {
    this.#bucket.checkWatch();
    this.#keeper.renewAll();
    if (this.#state !== "joined") return;
    this.#collectDeadMembers();
    this.#rebalance();
  }

  #onRenewFailed(key: string, error: unknown): void {
    this.#stats.renewFailures++;
    this.#renewFailuresUnreported++;
    // One line per lease period at most: an outage fails every lease at every renewal.
    const now = this.#clock.now();
    if (now - this.#renewWarnedAt < this.#options.leaseMs) return;
    this.#renewWarnedAt = now;
    this.#log.warn(
      `KvSharding "${this.identity}": ${this.#renewFailuresUnreported} lease renewal(s) failed, the last (${key}): ${(error as Error)?.message ?? error}`,
    );
    this.#renewFailuresUnreported = 0;
  }

  #onLost(key: string, reason: LossReason): void {
    if (key === this.#memberKey) {
      const seen = this.#observations.get(key);
      // "taken" by a live key of another instance: a process with our identity.
      // A deleted key (others collected it while this process was stalled) is
      // simply announced again.
      if (reason === "taken" && seen?.live && seen.record?.instance !== this.#instance) {
        this.#log.warn(`KvSharding "${this.identity}": ${new DuplicateIdentityError(this.identity, this.#bucket.name).message}; giving up every partition`);
        this.#loseAll();
        void this.leave();
      }
      // Otherwise the next rebalance announces it again.
      this.#queueRebalance();
      return;
    }
    const p = Number(key.slice(LEASE.length));
    this.#stats.leasesLost++;
    this.#log.warn(
      `KvSharding "${this.identity}": lease of partition ${p} ${reason === "deadline" ? "not renewed in time" : "taken by another process"}: revoking it as lost`,
    );
    if (this.#phase[p] === OWNED) {
      this.#stopOwning(p);
      this.#phase[p] = REVOKING;
      const revoked = this.#revoke(p, "lost").then(() => {
        this.#lostRevokes.delete(p);
        this.#phase[p] = IDLE;
        this.#queueRebalance();
      });
      this.#lostRevokes.set(p, revoked);
    } else if (this.#phase[p] === REVOKING && !this.#lostRevokes.has(p)) {
      // Lost during a hand-over: abort at once; #handOver waits for this too.
      this.#lostRevokes.set(p, this.#revoke(p, "lost"));
    }
  }

  #loseAll(): void {
    for (const key of [...this.#keeper.keys()]) if (key !== this.#memberKey) this.#onLost(key, "taken");
    this.#keeper.stop();
  }

  // --- share --------------------------------------------------------------

  #queueRebalance(): void {
    if (this.#rebalanceQueued) return;
    this.#rebalanceQueued = true;
    setTimeout(() => {
      this.#rebalanceQueued = false;
      this.#rebalance();
    }, 0);
  }

  #rebalance(): void {
    if (this.#state !== "joined") return;
    const now = this.#clock.now();
    const leaseMs = this.#options.leaseMs;
    if (!this.#announcing && !this.#keeper.get(this.#memberKey) && this.#observations.availability(this.#memberKey, this.#instance, now, leaseMs) !== "held") {
      // The member key lapsed (NATS was away): announce again.
      this.#announcing = true;
      void this.#track(this.#keeper.acquire(this.#memberKey).finally(() => (this.#announcing = false)));
    }
    const target = fairShare(this.identity, this.#liveMembers(), this.partitions);
    const plan = planShare(
      target,
      this.#order,
      (p) => this.#phase[p] === OWNED,
      this.#ownedCount,
      this.#acquiring,
      (p) => this.#phase[p] !== IDLE,
      (p) => this.#observations.availability(`${LEASE}${p}`, this.#instance, now, leaseMs) !== "held",
    );
    if (plan.release.length > 0) {
      this.#log.info(`KvSharding "${this.identity}": handing over partitions ${plan.release.join(",")} (fair share ${target} of ${this.partitions})`);
      for (const p of plan.release) void this.#track(this.#handOver(p));
    }
    if (plan.acquire.length > 0 && !this.#keeper.coolingDown()) {
      const tries = plan.acquire.map((p) => this.#acquire(p));
      void this.#track(
        Promise.all(tries).then((got) => {
          const taken = plan.acquire.filter((_, i) => got[i]);
          if (taken.length > 0) {
            this.#log.info(`KvSharding "${this.identity}": took partitions ${taken.join(",")} (now ${this.#ownedCount}, fair share ${target} of ${this.partitions})`);
          }
        }),
      );
    }
  }

  async #acquire(p: number): Promise<boolean> {
    this.#phase[p] = ACQUIRING;
    this.#acquiring++;
    const key = `${LEASE}${p}`;
    let lease;
    try {
      lease = await this.#keeper.acquire(key);
    } finally {
      this.#acquiring--;
    }
    if (!lease) {
      this.#phase[p] = IDLE;
      return false;
    }
    if (this.#state !== "joined") {
      this.#phase[p] = RELEASING;
      await this.#keeper.release(key);
      this.#phase[p] = IDLE;
      return false;
    }
    const fence: Fence = { partition: p, token: lease.token };
    this.#phase[p] = OWNED;
    this.#fences[p] = fence;
    this.#owns[p] = 1;
    this.#ownedCount++;
    this.#stats.handoversIn++;
    try {
      this.#member!.acquired(p, fence);
    } catch (error) {
      this.#log.warn(`KvSharding "${this.identity}": acquired(${p}) threw: ${(error as Error)?.message ?? error}`);
    }
    return true;
  }

  /** Clean hand-over: stop dispatching, let the member finish, then delete the lease (renewed until then). */
  async #handOver(p: number): Promise<void> {
    this.#stopOwning(p);
    this.#phase[p] = REVOKING;
    await this.#revoke(p, "handover");
    const lost = this.#lostRevokes.get(p);
    if (lost) {
      await lost;
      this.#lostRevokes.delete(p);
      this.#phase[p] = IDLE;
      return;
    }
    this.#phase[p] = RELEASING;
    await this.#keeper.release(`${LEASE}${p}`);
    this.#phase[p] = IDLE;
    this.#stats.handoversOut++;
    this.#queueRebalance();
  }

  #stopOwning(p: number): void {
    this.#owns[p] = 0;
    this.#fences[p] = undefined;
    this.#ownedCount--;
  }

  async #revoke(p: number, reason: "handover" | "lost"): Promise<void> {
    try {
      await this.#member!.revoke(p, reason);
    } catch (error) {
      this.#log.warn(`KvSharding "${this.identity}": revoke(${p}, "${reason}") threw: ${(error as Error)?.message ?? error}`);
    }
  }

  /** Deletes member keys nobody renewed for a whole lease (crashed processes') and their barrier keys, once each, so the bucket does not fill with them. */
  #collectDeadMembers(): void {
    const now = this.#clock.now();
    const live = new Set(this.#liveMembers());
    const dead = [
      ...this.#observations.expired(MEMBER, now, this.#options.leaseMs),
      ...[...this.#observations.expired(BARRIER, now, this.#options.leaseMs)].filter(([key]) => !live.has(key.slice(BARRIER.length))),
    ];
    for (const [key, seen] of dead) {
      const attempt = `${key}@${seen.revision}`;
      if (key === this.#memberKey || this.#gcTried.has(attempt)) continue;
      this.#gcTried.add(attempt);
      this.#bucket.remove(key, seen.revision).catch(() => {});
    }
  }

  #track(work: Promise<unknown>): Promise<void> {
    const tracked = work.then(
      () => {},
      (error: unknown) => this.#log.warn(`KvSharding "${this.identity}": ${(error as Error)?.message ?? error}`),
    );
    this.#transitions.add(tracked);
    void tracked.finally(() => this.#transitions.delete(tracked));
    return tracked;
  }
}
