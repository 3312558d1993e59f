import type { ControllerMetrics } from "../metrics/metrics.js";
import type { BatchItem, ItemOutcome } from "../pool/protocol.js";
import type { Resource } from "../storage/resource.js";
import type { Storage } from "../storage/storage.js";
import type { ControllerQueue } from "./controller-queue.js";
import type { ControllerCounters } from "./controller-stats.js";
import type { Informer } from "./informer.js";
import type { Job } from "./job.js";
import type { Logger } from "./logger.js";
import type { OutcomeApplier } from "./outcome-applier.js";
import type { PartitionGate } from "./partition-gate.js";
import type { ReconcileRunner } from "./reconcile-runner.js";
import type { ResourceHandles } from "./resource-handles.js";

export interface DispatcherOptions {
  queue: ControllerQueue;
  handles: ResourceHandles;
  informer: Informer;
  storage: Storage;
  applier: OutcomeApplier;
  counters: ControllerCounters;
  logger: Logger;
  metrics: ControllerMetrics | undefined;
  /** Reconciles in flight at most, across the controller (controller-runtime's MaxConcurrentReconciles). */
  maxConcurrent: number;
  runnerOf(kind: string): ReconcileRunner;
  /** Why the resource fails its kind's schema, or undefined. */
  invalidity(kind: string, resource: Resource): string | undefined;
  /** A key whose resource is gone: give its handle back if nothing else wants it. */
  release(h: number): void;
  /** Scale-out: only keys of partitions held here run. */
  gate?: PartitionGate;
}

/**
 * Takes ready keys off the queue whenever a reconcile slot is free and starts
 * each at once: one slot per reconcile, so a slow one holds only its own.
 * Each key is read from the informer cache (storage on a miss), checked
 * against its kind's schema, and handed to its runner; its outcome is
 * applied, its key settled and marked done, and its slot freed.
 */
export class Dispatcher {
  readonly #o: DispatcherOptions;
  /** Keys taken off the queue and not yet done: loading, running or being applied. */
  #running = 0;
  #stopping = false;
  #loop: Promise<void> | undefined;
  #slotFreed: (() => void) | undefined;
  #drained: (() => void) | undefined;

  constructor(options: DispatcherOptions) {
    this.#o = options;
  }

  /** Reconciles running now (slots in use). */
  get running(): number {
    return this.#running;
  }

  /** Runner callback: a reconcile ended (exactly once per key run). */
  readonly complete = (job: Job, outcome: ItemOutcome): void => {
    void this.#o.applier.apply(job, outcome).then(() => this.#finish(job.h));
  };

  start(): void {
    this.#loop = this.#dispatch();
  }

  /** Starts nothing new; resolves when every key taken has finished. Call after the queue is shut down. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wakeSlot();
    await this.#loop;
    if (this.#running > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
  }

  async #dispatch(): Promise<void> {
    const queue = this.#o.queue.raw;
    const max = this.#o.maxConcurrent;
    for (;;) {
      while (this.#running >= max && !this.#stopping) {
        await new Promise<void>((resolve) => (this.#slotFreed = resolve));
      }
      const first = await queue.getHandle();
      if (first === undefined) return;
      const now = this.#o.metrics?.now();
      this.#take(first, now);
      while (this.#running < max) {
        const h = queue.tryGetHandle();
        if (h < 0) break;
        this.#take(h, now);
      }
    }
  }

  #take(h: number, now: number | undefined): void {
    const o = this.#o;
    o.queue.dispatched(h, now);
    if (this.#stopping || (o.gate !== undefined && !o.gate.mayRun(h))) {
      // Shutting down, or its partition is not (or no longer) ours: not started.
      // It is still in storage; the next start, or the partition's holder, lists it.
      o.queue.done(h);
      return;
    }
    this.#running++;
    o.gate?.started(h);
    const kind = o.handles.kindOf(h);
    const uid = o.handles.uidOf(h);
    // The informer cache (fed by list and watch) saves a read per reconcile; a
    // stale entry costs only a CAS conflict, after which the key reads storage.
    const cached = o.informer.cached(h);
    if (cached === undefined) void this.#load(h, kind, uid);
    else this.#admit({ h, kind, uid, loaded: cached });
  }

  /** A key the cache does not hold: read it, then admit it (or settle a failed read or a deleted resource). */
  async #load(h: number, kind: string, uid: string): Promise<void> {
    const o = this.#o;
    let loaded: Resource | undefined;
    try {
      loaded = await o.storage.load(kind, uid);
    } catch (error) {
      o.logger.error({ kind, uid, err: error }, "loading the resource failed; retrying with backoff");
      o.queue.retry(h);
      this.#finish(h);
      return;
    }
    if (loaded === undefined) {
      o.counters.missing++;
      o.queue.forget(h);
      this.#finish(h);
      o.release(h);
      return;
    }
    this.#admit({ h, kind, uid, loaded });
  }

  #admit(job: Job): void {
    const o = this.#o;
    const problem = o.invalidity(job.kind, job.loaded);
    if (problem !== undefined) {
      void o.applier.applyInvalid(job, problem).then(() => this.#finish(job.h));
      return;
    }
    const h = job.h;
    const reason = o.queue.state.reason[h];
    const attempt = o.queue.attempt(h);
    const item: BatchItem = reason === undefined
      ? { h, kind: job.kind, uid: job.uid, attempt, resource: undefined }
      : { h, kind: job.kind, uid: job.uid, attempt, reason, resource: undefined };
    const fence = o.gate?.fenceOf(h);
    if (fence !== undefined) item.fence = { partition: fence.partition, token: fence.token };
    o.runnerOf(job.kind).run(job, item);
  }

  #finish(h: number): void {
    this.#o.gate?.ended(h);
    this.#o.queue.done(h);
    this.#running--;
    this.#wakeSlot();
    if (this.#running === 0) {
      const drained = this.#drained;
      this.#drained = undefined;
      drained?.();
    }
  }

  #wakeSlot(): void {
    const freed = this.#slotFreed;
    this.#slotFreed = undefined;
    freed?.();
  }
}
