// The steady suite's reconciler: the device is already converged, so it writes
// nothing and asks to be checked again in 1..300 s (uniform), as a fleet's
// periodic health check would. Loaded by URL (dist/bench/steady-reconciler.js).
import { BaseReconciler } from "../src/reconcile/base-reconciler.js";
import type { ReconcileContext, Result } from "../src/reconcile/reconciler.js";
import { DEVICE_KIND, type BenchDevice } from "./device.js";

export const MIN_CHECK_MS = 1_000;
export const MAX_CHECK_MS = 300_000;

export default class SteadyReconciler extends BaseReconciler<BenchDevice> {
  readonly resourceKind = DEVICE_KIND;

  async reconcile(_ctx: ReconcileContext, _device: BenchDevice): Promise<Result> {
    return { requeueAfter: MIN_CHECK_MS + Math.random() * (MAX_CHECK_MS - MIN_CHECK_MS) };
  }
}
