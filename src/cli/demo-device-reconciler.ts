// The demo's reconciler. Its module's default export is the class, so the
// controller can load it by URL in every worker thread.
import { BaseReconciler } from "../reconcile/base-reconciler.js";
import type { Condition } from "../reconcile/conditions.js";
import { findCondition } from "../reconcile/conditions.js";
import { TerminalError } from "../reconcile/errors.js";
import type { ReconcileContext, Result } from "../reconcile/reconciler.js";
import type { Resource } from "../storage/resource.js";
import { DeviceUnreachableError } from "./device-unreachable-error.js";

export type DeviceState = "running" | "stopped";

export interface DemoDeviceSpec {
  desired: DeviceState;
}

export interface DemoDeviceStatus {
  state: string;
  conditions?: Condition[];
}

export type DemoDevice = Resource<DemoDeviceSpec, DemoDeviceStatus>;

export const DEMO_DEVICE_KIND = "Device";

/**
 * Probability in [0,1] that acting on a device fails. An environment variable,
 * because worker threads inherit the environment and take no other input from
 * the command line.
 */
export const FAIL_RATE_ENV = "CONVERGE_DEMO_FAIL_RATE";

/** The periodic check of a converged device (Fabrica's example resyncs every 5 minutes). */
export const RESYNC_MS = 5 * 60 * 1_000;

export default class DemoDeviceReconciler extends BaseReconciler<DemoDevice> {
  readonly resourceKind = DEMO_DEVICE_KIND;

  async reconcile(ctx: ReconcileContext, device: DemoDevice): Promise<Result> {
    const desired = device.spec.desired;
    const status = (device.status ??= { state: "unknown" });
    const generation = device.metadata?.generation;
    const ready = findCondition(status.conditions, "Ready");
    // Converged means this generation's spec was seen, not merely that the state happens to match.
    if (status.state === desired && ready !== undefined && ready.observedGeneration === generation) {
      return { requeueAfter: RESYNC_MS };
    }
    if (status.state !== desired) {
      // "Acting" on the device: a little async work, as a network call would be.
      await Promise.resolve();
      if (Math.random() < failRate()) throw new DeviceUnreachableError(device.uid, ctx.attempt);
      status.state = desired;
    }
    if (desired === "running") this.setCondition(device, "Ready", "True", "DeviceRunning", "Device is running");
    else this.setCondition(device, "Ready", "False", "DeviceStopped", "Device is stopped");
    await this.updateStatus(ctx, device);
    await this.emitEvent(ctx, `io.converge.demo.device.${desired}`, device);
    return { requeueAfter: RESYNC_MS };
  }
}

let parsedFrom: string | undefined;
let parsed = 0;

/** Read on every reconcile (a run may change it); parsed only when it changes. */
function failRate(): number {
  const text = process.env[FAIL_RATE_ENV];
  if (text === undefined || text === "") return 0;
  if (text !== parsedFrom) {
    const rate = Number(text);
    if (!(rate >= 0 && rate <= 1)) {
      throw new TerminalError(`${FAIL_RATE_ENV} must be a probability between 0 and 1, got ${JSON.stringify(text)}`, {
        reason: "InvalidFailRate",
      });
    }
    parsedFrom = text;
    parsed = rate;
  }
  return parsed;
}
