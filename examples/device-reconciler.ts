// The seed's complete example: a Device reconciler. Its module's default export
// is the class, so the controller can load it in every worker by URL.
import { BaseReconciler, type Condition, type ReconcileContext, type Resource, type Result } from "../src/index.js";

export interface DeviceSpec {
  desired: "running" | "stopped";
  config: string;
}

export interface DeviceStatus {
  state: string;
  lastSeen?: string;
  conditions?: Condition[];
}

export type Device = Resource<DeviceSpec, DeviceStatus>;

export default class DeviceReconciler extends BaseReconciler<Device> {
  readonly resourceKind = "Device";

  async reconcile(ctx: ReconcileContext, device: Device): Promise<Result> {
    device.status ??= { state: "" };
    this.logger.info(
      `Reconciling device ${device.uid} (desired: ${device.spec.desired}, current: ${device.status.state})`,
    );

    switch (device.spec.desired) {
      case "running":
        if (device.status.state !== "running") {
          // Simulate starting the device.
          this.logger.info(`Starting device ${device.uid}`);
          device.status.state = "running";
          device.status.lastSeen = new Date().toISOString();
          this.setCondition(device, "Ready", "True", "DeviceRunning", "Device is running");
          await this.updateStatus(ctx, device);
          await this.emitEvent(ctx, "io.example.device.started", device);
        }
        break;
      case "stopped":
        if (device.status.state !== "stopped") {
          this.logger.info(`Stopping device ${device.uid}`);
          device.status.state = "stopped";
          this.setCondition(device, "Ready", "False", "DeviceStopped", "Device is stopped");
          await this.updateStatus(ctx, device);
          await this.emitEvent(ctx, "io.example.device.stopped", device);
        }
        break;
    }

    // Requeue after 5 minutes for a periodic check.
    return { requeueAfter: 5 * 60 * 1000 };
  }
}
