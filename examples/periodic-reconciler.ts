// The seed's "Periodic Reconciliation": a reconciler that always asks to run
// again after a period, so drift is caught even when no event ever arrives.
import { BaseReconciler, type Condition, type ReconcileContext, type Resource, type Result } from "../src/index.js";

export interface ProbeSpec {
  /** What the probe checks (simulated: always reachable). */
  target: string;
  /** How often to check, ms. */
  intervalMs: number;
}

export interface ProbeStatus {
  /** Checks made so far. Kept in status: workers share no memory with anyone. */
  checks: number;
  /** `Date.now()` of the last check. */
  lastCheckedAt: number;
  conditions?: Condition[];
}

export type Probe = Resource<ProbeSpec, ProbeStatus>;

export default class ProbeReconciler extends BaseReconciler<Probe> {
  readonly resourceKind = "Probe";

  async reconcile(ctx: ReconcileContext, probe: Probe): Promise<Result> {
    const checks = (probe.status?.checks ?? 0) + 1;
    this.logger.info(`Checking probe ${probe.uid} (check ${checks})`);
    probe.status = { ...probe.status, checks, lastCheckedAt: Date.now() };
    // Same status every time: lastTransitionTime stays where it first became True.
    this.setCondition(probe, "Ready", "True", "Reachable", `${probe.spec.target} answered check ${checks}`);
    await this.updateStatus(ctx, probe);

    // Always requeue: this is what makes the check periodic.
    return { requeueAfter: probe.spec.intervalMs };
  }
}
