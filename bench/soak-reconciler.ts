// The soak test's device reconciler: converges status.state to spec.desired,
// fails transiently at CONVERGE_SOAK_FAIL_RATE and kills its worker thread at
// CONVERGE_SOAK_CRASH_RATE, and logs start/end of every reconcile to
// CONVERGE_SOAK_LOG so the run can prove no key ran in two workers at once.
import { appendFileSync } from "node:fs";
import { threadId } from "node:worker_threads";
import { BaseReconciler, type ReconcileContext, type Resource, type Result } from "../src/index.js";

export type SoakDevice = Resource<{ desired: "running" | "stopped" }, { state?: string; observedGeneration?: number }>;

const failRate = Number(process.env.CONVERGE_SOAK_FAIL_RATE ?? 0);
const crashRate = Number(process.env.CONVERGE_SOAK_CRASH_RATE ?? 0);
const log = process.env.CONVERGE_SOAK_LOG;

export default class SoakDeviceReconciler extends BaseReconciler<SoakDevice> {
  readonly resourceKind = "SoakDevice";

  async reconcile(ctx: ReconcileContext, device: SoakDevice): Promise<Result> {
    if (log) appendFileSync(log, `+ ${device.uid} ${threadId}\n`);
    try {
      // A crash ends every reconcile of this thread without its "-" line: "x" says so.
      if (Math.random() < crashRate) {
        if (log) appendFileSync(log, `x - ${threadId}\n`);
        process.exit(1);
      }
      await Promise.resolve();
      const generation = device.metadata?.generation ?? 0;
      if (device.status?.state !== device.spec.desired || device.status?.observedGeneration !== generation) {
        if (Math.random() < failRate) throw new Error(`${device.uid}: simulated transient failure`);
        device.status = { state: device.spec.desired, observedGeneration: generation };
        await this.updateStatus(ctx, device);
      }
      return { requeueAfter: 60_000 };
    } finally {
      if (log) appendFileSync(log, `- ${device.uid} ${threadId}\n`);
    }
  }
}
