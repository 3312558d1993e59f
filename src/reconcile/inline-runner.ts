import { deepCopy } from "../codec/deep-copy.js";
import type { BatchItem, ClientOp } from "../pool/protocol.js";
import type { Job } from "./job.js";
import type { Logger } from "./logger.js";
import type { RunContext } from "./run-context.js";
import type { CompleteOutcome, ReconcileRunner } from "./reconcile-runner.js";
import type { Reconciler } from "./reconciler.js";
import { runReconcile } from "./run-reconcile.js";

export interface InlineRunnerOptions {
  reconcilerOf(kind: string): Reconciler;
  logger: Logger;
  timeoutMs: number;
  call(op: ClientOp, args: unknown[]): Promise<unknown>;
  /** Keep each running reconcile's context so `abort` can reach it (scale-out only: a Map entry per reconcile otherwise). */
  abortable: boolean;
}

/**
 * Runs reconciles on the main thread, each on its own, each with its own
 * deadline. A reconcile that ignores its abort cannot be stopped here: it
 * holds its own slot (and key) until it returns, and the others flow on.
 */
export class InlineRunner implements ReconcileRunner {
  readonly #o: InlineRunnerOptions;
  readonly #complete: CompleteOutcome;
  readonly #running = new Map<number, RunContext>();
  readonly #track = (h: number, deadline: RunContext | undefined): void => {
    if (deadline) this.#running.set(h, deadline);
    else this.#running.delete(h);
  };

  constructor(options: InlineRunnerOptions, complete: CompleteOutcome) {
    this.#o = options;
    this.#complete = complete;
  }

  run(job: Job, item: BatchItem): void {
    // The reconcile may mutate its copy; `loaded` stays as read, for CAS and diffing.
    item.resource = deepCopy(job.loaded);
    const env = this.#o.abortable
      ? { logger: this.#o.logger, timeoutMs: this.#o.timeoutMs, call: this.#o.call, track: this.#track }
      : { logger: this.#o.logger, timeoutMs: this.#o.timeoutMs, call: this.#o.call };
    void runReconcile(this.#o.reconcilerOf(job.kind), item, env).then((outcome) => this.#complete(job, outcome));
  }

  abort(hs: readonly number[], reason: Error): void {
    for (const h of hs) this.#running.get(h)?.abort(reason);
  }

  async close(): Promise<void> {
    // The dispatcher waits for every outcome; nothing is owned here beyond them.
  }
}
