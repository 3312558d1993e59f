import type { BatchItem, ClientOp, ItemOutcome } from "../pool/protocol.js";
import { toWireError } from "../pool/protocol.js";
import { ReconcilePool, type LostKeys, type ReconcilePoolOptions } from "../pool/reconcile-pool.js";
import { ReconcileInterruptedError, ReconcileTimeoutError, WorkerCrashError } from "./errors.js";
import type { Job } from "./job.js";
import type { Logger } from "./logger.js";
import type { CompleteOutcome, ReconcileRunner } from "./reconcile-runner.js";

export interface PooledRunnerOptions extends ReconcilePoolOptions {
  logger: Logger;
  call(op: ClientOp, args: unknown[]): Promise<unknown>;
}

/**
 * Runs reconciles in the worker pool. Every key sent is in `#open` until its
 * outcome arrives or its thread dies: then it completes as a timeout (it
 * ignored its abort), a crash, or an interruption (another key's fault), and
 * is retried. No key is lost and none completes twice.
 */
export class PooledRunner implements ReconcileRunner {
  readonly #pool: ReconcilePool;
  readonly #open = new Map<number, Job>();
  readonly #complete: CompleteOutcome;
  readonly #o: PooledRunnerOptions;

  constructor(options: PooledRunnerOptions, complete: CompleteOutcome) {
    this.#o = options;
    this.#complete = complete;
    this.#pool = new ReconcilePool(
      options,
      {
        onOutcomes: (outcomes) => this.#onOutcomes(outcomes),
        onLog: (level, args) => (options.logger[level] as (...a: unknown[]) => void)(...args),
        onCall: options.call,
        onLost: (lost) => this.#onLost(lost),
      },
    );
  }

  get threadsReplaced(): number {
    return this.#pool.replaced;
  }

  run(job: Job, item: BatchItem): void {
    this.#open.set(job.h, job);
    item.resource = job.loaded;
    this.#pool.run(item);
  }

  abort(hs: readonly number[], reason: Error): void {
    this.#pool.abort(hs, toWireError(reason));
  }

  close(): Promise<void> {
    return this.#pool.close();
  }

  destroy(): Promise<void> {
    return this.#pool.destroy();
  }

  #onOutcomes(outcomes: ItemOutcome[]): void {
    for (const outcome of outcomes) {
      const job = this.#open.get(outcome.h);
      if (job === undefined) continue;
      this.#open.delete(outcome.h);
      this.#complete(job, outcome);
    }
  }

  #onLost(lost: LostKeys): void {
    const stuckKeys = lost.stuck.map((h) => this.#open.get(h)).filter((job) => job !== undefined).map(keyOf);
    const why = lost.killed
      ? `its worker thread was replaced because ${stuckKeys.join(", ") || "another reconcile"} ignored its abort`
      : undefined;
    for (const h of lost.stuck) this.#fail(h, (key) => new ReconcileTimeoutError(key, this.#o.timeoutMs));
    for (const h of lost.interrupted) {
      this.#fail(h, (key) => (why ? new ReconcileInterruptedError(key, why) : new WorkerCrashError(key, lost.error)));
    }
    if (!lost.killed) this.#o.logger.error({ err: lost.error, retried: lost.interrupted.length + lost.stuck.length }, "a reconcile worker thread died; its unfinished keys will be retried");
    else this.#o.logger.warn({ stuck: stuckKeys.join(", "), interrupted: lost.interrupted.length }, "replaced a worker thread whose reconcile ignored its abort; the others on it will be retried");
  }

  #fail(h: number, error: (key: string) => Error): void {
    const job = this.#open.get(h);
    if (job === undefined) return;
    this.#open.delete(h);
    this.#complete(job, { h, ms: 0, error: toWireError(error(keyOf(job))) });
  }
}

function keyOf(job: Job): string {
  return `${job.kind}/${job.uid}`;
}
