// The interface the controller sees of scale-out. No NATS type here: reconcile
// may import this file, and only this file, of src/cluster (test/layering.test.ts).

/**
 * A partition's lease as its holder got it. `token` is the KV revision of the
 * write that took the lease: it stays the same while the holder renews, and a
 * later holder's token is always greater (revisions only grow), so a device
 * that remembers the highest token it saw can refuse a stale holder's command.
 */
export interface Fence {
  readonly partition: number;
  readonly token: number;
}

/** What a sharded process (the controller) does when its share changes. */
export interface ShardingMember {
  /** This process now holds `partition`: relist its keys and dispatch them. */
  acquired(partition: number, fence: Fence): void;
  /**
   * Stop dispatching `partition` (`owns` is already false when this is called).
   * "handover": let in-flight reconciles of it finish (or abort at their
   * deadline), then resolve; the lease is kept renewed meanwhile and released
   * after. "lost": the lease could not be renewed in time: abort in-flight
   * reconciles of it at once, resolve when they ended. A "lost" call may follow
   * a "handover" call of the same partition that has not resolved yet (its lease
   * could not be renewed during the hand-over): then abort at once too.
   */
  revoke(partition: number, reason: RevokeReason): Promise<void>;
}

export type RevokeReason = "handover" | "lost";

export interface ShardingStats {
  /** Partitions this process owns now. */
  readonly owned: number;
  /** Partitions acquired since `join`. */
  readonly handoversIn: number;
  /** Partitions given back cleanly (revoked "handover" and released). */
  readonly handoversOut: number;
  /** Partitions revoked "lost": their lease could not be renewed in time. */
  readonly leasesLost: number;
  /** Lease or member-key renewals that failed (each may be retried before the lease is lost). */
  readonly renewFailures: number;
  /** Members this process counts as live, itself included. */
  readonly members: number;
}

export interface Sharding {
  readonly partitions: number;
  /** The partition of `key` ("kind/uid"): FNV-1a 32 of its UTF-8 bytes mod `partitions`, the same in every process and runtime. */
  partitionOf(key: string): number;
  /** Whether this process owns `partition` now: a typed-array lookup, for the hot path. */
  owns(partition: number): boolean;
  /** The fence of an owned partition; undefined when not owned. */
  fence(partition: number): Fence | undefined;
  /** Announces this process and starts taking a fair share; `member` is told of every change. */
  join(member: ShardingMember): Promise<void>;
  /** Revokes every partition ("handover"), releases the leases and withdraws this member. */
  leave(): Promise<void>;
  stats(): ShardingStats;
}
