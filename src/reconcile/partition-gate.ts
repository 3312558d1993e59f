import type { Fence, RevokeReason, Sharding, ShardingMember } from "../cluster/sharding.js";
import { resized } from "../queue/typed-array.js";
import { ReconcileInterruptedError } from "./errors.js";
import type { Logger } from "./logger.js";

export interface PartitionGateOptions {
  sharding: Sharding;
  logger: Logger;
  /** The key string of a handle (for its partition). */
  keyOf(h: number): string;
  /** Lists the keys of these partitions afresh (they were just acquired). */
  relist(partitions: ReadonlySet<number>): Promise<void>;
  /** Aborts these keys' running reconciles (a lost lease). */
  abort(hs: readonly number[], reason: Error): void;
  /** Drops what the informer caches of these partitions. */
  forget(partitions: ReadonlySet<number>): void;
  /** Told of every move, for metrics. */
  moved?(direction: "in" | "out" | "lost"): void;
}

const RELIST_RETRY_BASE_MS = 200;
const RELIST_RETRY_MAX_MS = 5_000;

/**
 * The controller's side of scale-out (the ShardingMember): which partitions
 * this process may reconcile now, which keys of each are running, and the
 * hand-over rules. A key runs only while its partition is active here;
 * revoking a partition stops new runs of it at once, then waits for its
 * running reconciles (aborting them first when the lease was lost), so a key
 * never runs in two processes at once.
 */
export class PartitionGate implements ShardingMember {
  readonly sharding: Sharding;
  readonly #o: PartitionGateOptions;
  /** Partition of each handle, computed once (-1: not yet). */
  #partitionOf = new Int32Array(1024).fill(-1);
  readonly #active: Uint8Array;
  readonly #running: Set<number>[];
  readonly #drained: ((() => void) | undefined)[];
  readonly #fences: (Fence | undefined)[];
  #toRelist = new Set<number>();
  #relisting: Promise<void> | undefined;
  #relistFailures = 0;
  #closed = false;

  constructor(options: PartitionGateOptions) {
    this.#o = options;
    this.sharding = options.sharding;
    const n = options.sharding.partitions;
    this.#active = new Uint8Array(n);
    this.#running = Array.from({ length: n }, () => new Set<number>());
    this.#drained = new Array(n).fill(undefined);
    this.#fences = new Array(n).fill(undefined);
  }

  /** Whether a key (by kind and uid, before it has a handle) belongs to a partition active here. */
  acceptsKey(key: string): boolean {
    return this.#active[this.sharding.partitionOf(key)] === 1;
  }

  partitionOf(h: number): number {
    if (h >= this.#partitionOf.length) this.#partitionOf = resized(this.#partitionOf, Math.max(h + 1, this.#partitionOf.length * 2), -1);
    let p = this.#partitionOf[h];
    if (p < 0) p = this.#partitionOf[h] = this.sharding.partitionOf(this.#o.keyOf(h));
    return p;
  }

  /** A handle is given back (and may be reused by another key). */
  reset(h: number): void {
    if (h < this.#partitionOf.length) this.#partitionOf[h] = -1;
  }

  /** Whether the key of `h` may start a reconcile here now. */
  mayRun(h: number): boolean {
    return this.#active[this.partitionOf(h)] === 1;
  }

  fenceOf(h: number): Fence | undefined {
    return this.#fences[this.partitionOf(h)];
  }

  started(h: number): void {
    this.#running[this.partitionOf(h)].add(h);
  }

  ended(h: number): void {
    const p = this.partitionOf(h);
    const running = this.#running[p];
    running.delete(h);
    if (running.size === 0) {
      const drained = this.#drained[p];
      this.#drained[p] = undefined;
      drained?.();
    }
  }

  owned(): number {
    let n = 0;
    for (const active of this.#active) n += active;
    return n;
  }

  acquired(partition: number, fence: Fence): void {
    this.#o.moved?.("in");
    this.#active[partition] = 1;
    this.#fences[partition] = fence;
    this.#toRelist.add(partition);
    this.#relisting ??= this.#relistAcquired();
  }

  async revoke(partition: number, reason: RevokeReason): Promise<void> {
    const wasActive = this.#active[partition] === 1;
    this.#active[partition] = 0;
    this.#fences[partition] = undefined;
    this.#toRelist.delete(partition);
    const running = this.#running[partition];
    if (reason === "lost" && running.size > 0) {
      this.#o.logger.warn({ partition, aborted: running.size }, "lost the lease of a partition: aborting its running reconciles");
      this.#o.abort([...running], new ReconcileInterruptedError(`partition ${partition}`, "this process lost its lease"));
    }
    const waited = running.size;
    if (running.size > 0) await new Promise<void>((resolve) => (this.#drained[partition] = chain(this.#drained[partition], resolve)));
    this.#o.forget(new Set([partition]));
    // A "lost" that escalates a hand-over in progress is one move, counted as lost.
    if (wasActive || reason === "lost") this.#o.moved?.(reason === "lost" ? "lost" : "out");
    if (reason === "handover") this.#o.logger.info({ partition, waitedFor: waited }, "handed over a partition once its running reconciles ended");
  }

  /** Stops retrying lists (the controller is stopping). */
  close(): void {
    this.#closed = true;
  }

  /**
   * Acquisitions of one turn are listed together, with one line in the log.
   * A list that fails (NATS away mid-acquisition) is tried again with backoff
   * for the partitions still held: until it succeeds their keys run nowhere.
   */
  async #relistAcquired(): Promise<void> {
    while (this.#toRelist.size > 0 && !this.#closed) {
      await new Promise((resolve) => setImmediate(resolve));
      const partitions = this.#toRelist;
      this.#toRelist = new Set();
      this.#o.logger.info({ partitions: ranges([...partitions]), count: partitions.size }, "acquired partitions; listing their keys");
      try {
        await this.#o.relist(partitions);
        this.#relistFailures = 0;
      } catch (error) {
        const delayMs = Math.min(RELIST_RETRY_MAX_MS, RELIST_RETRY_BASE_MS * 2 ** this.#relistFailures++);
        for (const p of partitions) if (this.#active[p] === 1) this.#toRelist.add(p);
        this.#o.logger.warn({ err: error, partitions: ranges([...this.#toRelist]), delayMs }, "listing acquired partitions failed; trying again");
        await new Promise((resolve) => (setTimeout(resolve, delayMs) as { unref?: () => void }).unref?.());
      }
    }
    this.#relisting = undefined;
  }
}

function chain(first: (() => void) | undefined, second: () => void): () => void {
  return first === undefined ? second : () => {
    first();
    second();
  };
}

/** "0-3, 7, 9-10" */
function ranges(values: number[]): string {
  values.sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < values.length; ) {
    let j = i;
    while (j + 1 < values.length && values[j + 1] === values[j] + 1) j++;
    out.push(i === j ? `${values[i]}` : `${values[i]}-${values[j]}`);
    i = j + 1;
  }
  return out.join(", ");
}
