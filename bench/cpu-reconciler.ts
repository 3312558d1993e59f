// The e2e suite's CPU-heavy reconciler: `spec.spin` rounds of a hash loop
// (calibrated to ~200 µs by the suite), its result written with the status.
import { BaseReconciler } from "../src/reconcile/base-reconciler.js";
import type { ReconcileContext } from "../src/reconcile/reconciler.js";
import { DEVICE_KIND, deviceIndex, spin, type BenchDevice } from "./device.js";

export default class CpuReconciler extends BaseReconciler<BenchDevice> {
  readonly resourceKind = DEVICE_KIND;

  async reconcile(ctx: ReconcileContext, device: BenchDevice): Promise<void> {
    if (device.status?.state === device.spec.desired) return;
    const hash = spin(device.spec.spin ?? 0, deviceIndex(device.uid));
    device.status = { state: device.spec.desired, hash };
    await this.updateStatus(ctx, device);
  }
}
