// The fleet suite's reconciler: a device reconcile that waits on its network
// (spec.waitMs, some devices spec.slowMs) with the reconcile's own signal,
// then writes the converged status. Loaded by URL (dist/bench/wait-reconciler.js).
import { setTimeout as sleep } from "node:timers/promises";
import { BaseReconciler } from "../src/reconcile/base-reconciler.js";
import type { ReconcileContext } from "../src/reconcile/reconciler.js";
import { deviceIndex, DEVICE_KIND, waitOf, type BenchDevice } from "./device.js";

export default class WaitReconciler extends BaseReconciler<BenchDevice> {
  readonly resourceKind = DEVICE_KIND;

  async reconcile(ctx: ReconcileContext, device: BenchDevice): Promise<void> {
    if (device.status?.state === device.spec.desired) return;
    await sleep(waitOf(deviceIndex(device.uid), device.spec), undefined, { signal: ctx.signal });
    device.status = { state: device.spec.desired };
    await this.updateStatus(ctx, device);
  }
}
