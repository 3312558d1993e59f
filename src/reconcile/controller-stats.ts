/** Counters since start; a snapshot. */
export interface ControllerStats {
  reconciles: number;
  succeeded: number;
  /** Transient failures (thrown errors), retried with backoff. */
  failed: number;
  terminal: number;
  timeouts: number;
  crashes: number;
  /**
   * Reconciles stopped through no fault of their own and retried: their
   * worker thread was replaced because another reconcile on it ignored its
   * abort, or this process lost their partition.
   */
  interrupted: number;
  /** Worker threads replaced (a crash, or a reconcile that ignored its abort). */
  threadsReplaced: number;
  requeued: number;
  conflicts: number;
  statusWrites: number;
  statusUnchanged: number;
  eventsEmitted: number;
  /** Keys skipped because their resource no longer exists. */
  missing: number;
  /** Resources that failed their kind's schema (not reconciled). */
  invalid: number;
  /** Resources deleted after their last finalizer was removed. */
  deletes: number;
  queueDepth: number;
  processing: number;
  delayed: number;
  /** Reconciles running now (at most maxConcurrentReconciles). */
  running: number;
}

export type ControllerCounters = Omit<ControllerStats, "queueDepth" | "processing" | "delayed" | "running" | "threadsReplaced">;

export function newCounters(): ControllerCounters {
  return {
    reconciles: 0, succeeded: 0, failed: 0, terminal: 0, timeouts: 0, crashes: 0, interrupted: 0, requeued: 0,
    conflicts: 0, statusWrites: 0, statusUnchanged: 0, eventsEmitted: 0, missing: 0, invalid: 0, deletes: 0,
  };
}
