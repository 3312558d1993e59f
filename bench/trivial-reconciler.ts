// The e2e suite's trivial reconciler: one status write when the device is not
// in its desired state. Loaded by URL (dist/bench/*.js on Node, bench/*.ts on Bun and Deno).
import { BaseReconciler } from "../src/reconcile/base-reconciler.js";
import type { ReconcileContext } from "../src/reconcile/reconciler.js";
import { DEVICE_KIND, type BenchDevice } from "./device.js";

export default class TrivialReconciler extends BaseReconciler<BenchDevice> {
  readonly resourceKind = DEVICE_KIND;

  async reconcile(ctx: ReconcileContext, device: BenchDevice): Promise<void> {
    if (device.status?.state === device.spec.desired) return;
    device.status = { state: device.spec.desired };
    await this.updateStatus(ctx, device);
  }
}
