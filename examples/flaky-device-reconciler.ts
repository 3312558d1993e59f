// The seed's "Error Handling": the three kinds of trouble a reconcile meets and
// what each one tells the controller.
//   transient (connect failed)  -> throw: retried with exponential backoff
//   permanent (config missing)  -> throw TerminalError: never retried until the resource changes
//   temporary (not ready yet)   -> return { requeueAfter }: checked again after a delay
import { BaseReconciler, TerminalError, type Condition, type ReconcileContext, type Resource, type Result } from "../src/index.js";

export interface FlakyDeviceSpec {
  /** Connection attempts that fail before one succeeds. */
  failConnects?: number;
  /** Missing config is the permanent error: no retry can fix it, only a new spec. */
  config?: string;
  /** How the missing config is reported: a TerminalError (default), or the seed's condition-and-return. */
  onInvalidConfig?: "terminal-error" | "condition";
  /** Readiness checks the device fails before it is ready. */
  warmupChecks?: number;
}

export interface FlakyDeviceStatus {
  connected?: boolean;
  /** The attempt (ctx.attempt) that connected. */
  connectAttempts?: number;
  /** Readiness checks made; kept in status because workers share no memory. */
  warmupChecks?: number;
  state?: "running";
  conditions?: Condition[];
}

export type FlakyDevice = Resource<FlakyDeviceSpec, FlakyDeviceStatus>;

/** A transient failure: nothing wrong with the resource, the world was briefly unkind. */
export class ConnectError extends Error {
  override readonly name = "ConnectError";
}

export const WARMUP_RECHECK_MS = 20;

export default class FlakyDeviceReconciler extends BaseReconciler<FlakyDevice> {
  readonly resourceKind = "FlakyDevice";

  async reconcile(ctx: ReconcileContext, device: FlakyDevice): Promise<Result | void> {
    const spec = device.spec;
    const status = (device.status ??= {});
    this.logger.info(`Reconciling flaky device ${device.uid} (attempt ${ctx.attempt})`);

    // Transient error - retry with backoff. The condition set before the throw
    // is still written: the controller applies it with the failure.
    if (!status.connected) {
      // Simulated: the first `failConnects` attempts are refused. ctx.attempt
      // counts them for us, whichever worker runs each one.
      if (ctx.attempt <= (spec.failConnects ?? 0)) {
        const message = `connection refused (attempt ${ctx.attempt})`;
        this.setCondition(device, "Ready", "False", "ConnectError", message);
        throw new ConnectError(`${device.uid}: ${message}`);
      }
      status.connected = true;
      status.connectAttempts = ctx.attempt;
    }

    // Permanent error - don't retry.
    if (spec.config === undefined) {
      if (spec.onInvalidConfig === "condition") {
        // The seed's way: record why and return nothing. No retry either, but
        // the controller counts it as a success and nothing marks it failed.
        this.setCondition(device, "Ready", "False", "InvalidConfig", "Config is nil");
        return;
      }
      // The controller records Reconciled=False (reason InvalidConfig), counts
      // it as terminal, and reconciles again only when the resource changes.
      throw new TerminalError("Config is nil", { reason: "InvalidConfig" });
    }

    // Temporary issue - retry after a delay (not a failure: no backoff).
    const checks = status.warmupChecks ?? 0;
    if (checks < (spec.warmupChecks ?? 0)) {
      status.warmupChecks = checks + 1;
      this.setCondition(device, "Ready", "False", "WarmingUp", `not ready yet (check ${checks + 1} of ${spec.warmupChecks})`);
      await this.updateStatus(ctx, device);
      return { requeueAfter: WARMUP_RECHECK_MS };
    }

    status.state = "running";
    this.setCondition(device, "Ready", "True", "DeviceReady", "Device is ready");
    await this.updateStatus(ctx, device);
  }
}
