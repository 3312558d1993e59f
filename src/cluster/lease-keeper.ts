import { isWrongLastSequence } from "../nats/nats-errors.js";
import type { Clock } from "./clock.js";
import type { LeaseBucket } from "./lease-bucket.js";
import type { ResolvedLeaseOptions } from "./cluster-options.js";
import { decodeLeaseRecord, encodeLeaseRecord, type LeaseRecord } from "./lease-record.js";
import type { LeaseObservations } from "./lease-observations.js";

/**
 * A holder gives a lease up (calls it lost) this long after the start of its
 * last successful renewal: a quarter of the lease before any observer, whose
 * clock started when it saw that renewal (later), could judge it expired. The
 * quarter is the time the member has to abort what runs under the lease, and
 * covers clocks running at slightly different rates.
 */
export const SAFE_FRACTION = 0.75;
/** Renewals come every third of the lease: two tries fit before the safe window ends. */
export const RENEW_FRACTION = 1 / 3;

const EMPTY = new Uint8Array(0);

/** A lease this process holds. */
export interface HeldLease {
  readonly key: string;
  /** Revision of the write that took the lease: the fence token. */
  readonly token: number;
  /** Current revision (the last renewal's). */
  revision: number;
  /** Local time the last successful write (take or renewal) was sent: the safe window counts from here. */
  renewedFrom: number;
  renewing: boolean;
}

export type LossReason = "deadline" | "taken";

export interface LeaseKeeperEvents {
  /** `key` is no longer held: its safe window ran out, or someone else's write was found on it. Called synchronously at that moment. */
  lost(key: string, reason: LossReason): void;
  renewFailed(key: string, error: unknown): void;
}

/**
 * The leases one process holds in a bucket: takes them by compare-and-swap,
 * renews them, and declares each lost the moment its safe window ends without
 * a renewal, before any other process could take it.
 */
export class LeaseKeeper {
  readonly #held = new Map<string, HeldLease>();
  readonly #bucket: LeaseBucket;
  readonly #observations: LeaseObservations;
  readonly #clock: Clock;
  readonly #safeMs: number;
  readonly #record: Uint8Array;
  /** What `#record` decodes to, for observing our own writes. */
  readonly #ownRecord: LeaseRecord;
  readonly #instance: string;
  readonly #events: LeaseKeeperEvents;
  readonly #barrierKey: string;
  /** A barrier write not sent yet, which acquisitions acknowledged until it is sent may share. */
  #queuedBarrier: Promise<number> | undefined;
  readonly #leaseMs: number;
  /** Local time until which no new lease should be taken: a lease period after NATS last failed to answer a write. */
  #coolUntil = -Infinity;
  #deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  #deadlineAt = Infinity;
  #stopped = false;

  /** Writes records naming `options.identity`, `instance` (and `partitions`); `barrierKey` is this process's own (see #confirm). */
  constructor(
    bucket: LeaseBucket,
    observations: LeaseObservations,
    options: ResolvedLeaseOptions,
    instance: string,
    barrierKey: string,
    events: LeaseKeeperEvents,
    partitions?: number,
  ) {
    this.#barrierKey = barrierKey;
    this.#bucket = bucket;
    this.#observations = observations;
    this.#clock = options.clock;
    this.#safeMs = options.leaseMs * SAFE_FRACTION;
    this.#leaseMs = options.leaseMs;
    this.#ownRecord = partitions === undefined ? { holder: options.identity, instance } : { holder: options.identity, instance, partitions };
    this.#record = encodeLeaseRecord(this.#ownRecord);
    this.#instance = instance;
    this.#events = events;
  }

  get(key: string): HeldLease | undefined {
    return this.#held.get(key);
  }

  keys(): IterableIterator<string> {
    return this.#held.keys();
  }

  /**
   * Takes `key` by CAS on the revision last observed, then confirms it is the
   * key's last write. Undefined when someone else wrote it first (the
   * observation is refreshed), the confirmation failed, or NATS did not answer.
   */
  async acquire(key: string): Promise<HeldLease | undefined> {
    const previous = this.#observations.revision(key);
    const start = this.#clock.now();
    let revision: number;
    try {
      revision = await this.#bucket.write(key, this.#record, previous);
    } catch (error) {
      if (isWrongLastSequence(error)) await this.refresh(key);
      else this.#troubled();
      return undefined;
    }
    this.#observations.observe(key, revision, true, this.#ownRecord, start);
    if (!(await this.#confirm(key, revision, start))) return undefined;
    // Taken, but too late to use safely (the write took most of a lease): do
    // not start; the record names this process, so it can be taken again at once.
    if (this.#stopped || this.#clock.now() >= start + this.#safeMs) return undefined;
    const lease: HeldLease = { key, token: revision, revision, renewedFrom: start, renewing: false };
    this.#held.set(key, lease);
    this.#armDeadline();
    return lease;
  }

  /**
   * On a clustered stream, nats-server before 2.9.21 checks the expected last
   * subject sequence before the Raft proposal, not when it is applied
   * (nats-server#4320): two CAS writes racing on the same revision can both be
   * acknowledged. The one applied last holds the key. Every write that raced
   * ours was proposed before ours was acknowledged, so once the watch has
   * passed a write of ours sent after that acknowledgement (the barrier), the
   * observations show whether a later write to `key` exists.
   */
  async #confirm(key: string, revision: number, start: number): Promise<boolean> {
    let barrier: number;
    try {
      barrier = await this.#barrier();
    } catch {
      this.#troubled();
      return false;
    }
    const left = start + this.#safeMs - this.#clock.now();
    if (!(await this.#bucket.waitForRevision(barrier, left))) return false;
    return this.#observations.get(key)?.revision === revision;
  }

  #barrier(): Promise<number> {
    if (!this.#queuedBarrier) {
      const queued: Promise<number> = new Promise((resolve) => setTimeout(resolve, 0)).then(() => {
        if (this.#queuedBarrier === queued) this.#queuedBarrier = undefined;
        return this.#bucket.put(this.#barrierKey, EMPTY);
      });
      this.#queuedBarrier = queued;
    }
    return this.#queuedBarrier;
  }

  /** Deletes the barrier key (on leave). */
  async removeBarrier(): Promise<void> {
    const seen = this.#observations.get(this.#barrierKey);
    if (seen?.live) await this.#bucket.remove(this.#barrierKey, seen.revision).catch(() => {});
  }

  /**
   * Whether new leases should wait: NATS failed to answer a write less than a
   * lease ago. After a stream leader fails over, a 2.9 server's new leader
   * checks CAS writes against state it has not caught up on yet (the same
   * nats-server#4320), which the barrier cannot rule out; every process
   * rushing to retake leases at that moment is what made two holders in the
   * 3-node test. Renewals go on meanwhile.
   */
  coolingDown(): boolean {
    return this.#clock.now() < this.#coolUntil;
  }

  #troubled(): void {
    this.#coolUntil = this.#clock.now() + this.#leaseMs;
  }

  /** Re-reads `key` into the observations (after a conflict). */
  async refresh(key: string): Promise<void> {
    try {
      const entry = await this.#bucket.read(key);
      if (entry) this.#observations.observe(key, entry.revision, entry.live, entry.live ? decodeLeaseRecord(entry.value) : undefined, this.#clock.now());
    } catch {
      // The watch brings it later.
    }
  }

  /** Sends a renewal for every held lease that has none in flight. */
  renewAll(): void {
    for (const lease of this.#held.values()) if (!lease.renewing) void this.#renew(lease);
  }

  /** Stops holding `key` and deletes it (CAS on its revision) so another process can take it at once. */
  async release(key: string): Promise<void> {
    const lease = this.#held.get(key);
    if (!lease) return;
    this.#held.delete(key);
    try {
      await this.#bucket.remove(key, lease.revision);
    } catch {
      // Renewed meanwhile, or NATS away: the record names this process, so it
      // expires for others by the clock rule, and this process may retake it.
    }
  }

  /** Stops renewing and forgets every lease without releasing (the connection is gone, or after release). */
  stop(): void {
    this.#stopped = true;
    this.#held.clear();
    clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = undefined;
  }

  async #renew(lease: HeldLease): Promise<void> {
    lease.renewing = true;
    const start = this.#clock.now();
    try {
      const revision = await this.#bucket.write(lease.key, this.#record, lease.revision);
      lease.revision = revision;
      this.#observations.observe(lease.key, revision, true, this.#ownRecord, start);
      if (this.#held.get(lease.key) !== lease) return;
      lease.renewedFrom = start;
      this.#armDeadline();
    } catch (error) {
      if (!isWrongLastSequence(error)) this.#troubled();
      if (this.#held.get(lease.key) !== lease) return;
      this.#events.renewFailed(lease.key, error);
      if (isWrongLastSequence(error)) await this.#reconcileConflict(lease);
    } finally {
      lease.renewing = false;
    }
  }

  /**
   * A renewal found another revision. If it is this process's own write (an
   * earlier renewal that timed out but was applied), adopt it; the safe window
   * still counts from the last renewal known to have succeeded. Anything else
   * means the lease is someone else's now.
   */
  async #reconcileConflict(lease: HeldLease): Promise<void> {
    await this.refresh(lease.key);
    if (this.#held.get(lease.key) !== lease) return;
    const seen = this.#observations.get(lease.key);
    if (seen?.live && seen.record?.instance === this.#instance) {
      lease.revision = seen.revision;
      return;
    }
    this.#lose(lease.key, "taken");
  }

  #lose(key: string, reason: LossReason): void {
    this.#held.delete(key);
    this.#events.lost(key, reason);
  }

  /** One timer, at the earliest end of a safe window. */
  #armDeadline(): void {
    let earliest = Infinity;
    for (const lease of this.#held.values()) earliest = Math.min(earliest, lease.renewedFrom + this.#safeMs);
    if (earliest === this.#deadlineAt && this.#deadlineTimer !== undefined) return;
    clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = undefined;
    this.#deadlineAt = earliest;
    if (earliest === Infinity || this.#stopped) return;
    this.#deadlineTimer = setTimeout(() => this.#onDeadline(), Math.max(0, earliest - this.#clock.now()));
  }

  #onDeadline(): void {
    this.#deadlineTimer = undefined;
    const now = this.#clock.now();
    for (const lease of [...this.#held.values()]) {
      if (now >= lease.renewedFrom + this.#safeMs) this.#lose(lease.key, "deadline");
    }
    this.#armDeadline();
  }
}
