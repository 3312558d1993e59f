import type { BatchItem, ItemOutcome } from "../pool/protocol.js";
import type { Job } from "./job.js";

/**
 * Where reconciles run: on the main thread (InlineRunner) or in worker
 * threads (PooledRunner). `run` starts one now; its outcome reaches the
 * `complete` callback the runner was made with, exactly once, whatever
 * happens to the reconcile (a crashed thread included).
 */
export interface ReconcileRunner {
  run(job: Job, item: BatchItem): void;
  /** Aborts these keys' running reconciles (their ctx.signal), with `reason`. */
  abort(hs: readonly number[], reason: Error): void;
  /** Lets running reconciles finish; nothing new may be run after. */
  close(): Promise<void>;
}

export type CompleteOutcome = (job: Job, outcome: ItemOutcome) => void;
