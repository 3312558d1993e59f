import { reconcileOutcome, type ControllerMetrics, type ReconcileOutcome } from "../metrics/metrics.js";
import type { ItemOutcome, WireError } from "../pool/protocol.js";
import type { ControllerQueue } from "./controller-queue.js";
import type { ControllerCounters } from "./controller-stats.js";
import type { Logger } from "./logger.js";

/**
 * What happens to a key after its reconcile, controller-runtime's rules. The
 * outcome is classified once; the queue action, the counters and the metrics
 * all read that one verdict.
 */
export class ResultPolicy {
  constructor(
    private readonly queue: ControllerQueue,
    private readonly counters: ControllerCounters,
    private readonly metrics: ControllerMetrics | undefined,
    private readonly logger: Logger,
  ) {}

  settle(h: number, outcome: ItemOutcome, error: WireError | undefined, conflict: boolean): ReconcileOutcome {
    const verdict = reconcileOutcome(error === outcome.error ? outcome : { ...outcome, error }, conflict);
    const queue = this.queue;
    this.metrics?.reconciled(h, verdict, outcome.ms > 0 ? outcome.ms : undefined);
    switch (verdict) {
      case "conflict":
        // The resource changed under the reconcile: run it again now, on fresh data, without backoff.
        queue.requeue(h);
        break;
      case "terminal":
        this.counters.terminal++;
        queue.forget(h);
        this.logger.error({ key: queue.keyOf(h), reason: error!.reason, err: error!.message }, "terminal error: not retried until the resource changes");
        break;
      case "timeout":
      case "crash":
      case "interrupted":
      case "error":
        if (verdict === "timeout") this.counters.timeouts++;
        else if (verdict === "crash") this.counters.crashes++;
        else if (verdict === "interrupted") this.counters.interrupted++;
        else this.counters.failed++;
        // The outcome is worth a field when it is not a plain thrown error (a timeout, a crash, an interruption).
        const fields = { key: queue.keyOf(h), attempt: queue.attempt(h), ...(verdict === "error" ? {} : { outcome: verdict }), err: error!.message };
        this.logger.warn(fields, "reconcile failed; retrying with backoff");
        queue.retry(h);
        break;
      case "requeue_after":
        this.counters.succeeded++;
        this.counters.requeued++;
        queue.forget(h);
        queue.requeue(h, outcome.requeueAfter);
        break;
      case "requeue":
        this.counters.succeeded++;
        this.counters.requeued++;
        queue.retry(h);
        break;
      case "success":
        this.counters.succeeded++;
        queue.forget(h);
        break;
    }
    return verdict;
  }
}
