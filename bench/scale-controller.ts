// One controller process of the scale suite:
//   <runtime> bench/scale-controller.ts <natsUrl> <identity> <storage bucket> <shard bucket> <gate file> <waitMs>
// Reconciles `Device`s inline with maxConcurrentReconciles 64: each waits for the
// gate file (so every process has its share queued before the clock starts),
// then waits `waitMs` on its "network" and writes the converged status.
// Warm-up devices (`spec.warmUp`) skip the gate.
// Prints a JSON line of its state every 100 ms, and `{"drainedAt": ms}` once
// idle after the gate opened; stops cleanly on SIGTERM.
import { existsSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { KvSharding } from "../src/cluster/kv-sharding.js";
import { InMemoryEventBus } from "../src/events/in-memory-event-bus.js";
import { connectNats } from "../src/events/nats-connection.js";
import { BaseReconciler } from "../src/reconcile/base-reconciler.js";
import { Controller } from "../src/reconcile/controller.js";
import { silentLogger } from "../src/reconcile/logger.js";
import type { ReconcileContext } from "../src/reconcile/reconciler.js";
import { KvStorage } from "../src/storage/kv-storage.js";
import { DEVICE_KIND, type BenchDevice } from "./device.js";

const [url, identity, storageBucket, shardBucket, gate, waitMs] = process.argv.slice(2);

// One poller for the whole process: a check per waiting reconcile would cost
// more CPU than the work being measured.
const opened = new Promise<void>((resolve) => {
  const timer = setInterval(() => {
    if (!existsSync(gate)) return;
    clearInterval(timer);
    resolve();
  }, 2);
});

class GatedReconciler extends BaseReconciler<BenchDevice> {
  readonly resourceKind = DEVICE_KIND;
  async reconcile(ctx: ReconcileContext, device: BenchDevice): Promise<void> {
    if (device.status?.state === device.spec.desired) return;
    if (!device.spec.warmUp) await opened;
    await sleep(Number(waitMs), undefined, { signal: ctx.signal });
    device.status = { state: device.spec.desired };
    await this.updateStatus(ctx, device);
  }
}

const nc = await connectNats({ servers: url });
const storage = await KvStorage.open(nc, { bucket: storageBucket });
const sharding = await KvSharding.open(nc, { bucket: shardBucket, identity, partitions: 64, leaseMs: 3_000, logger: silentLogger });
const controller = new Controller(new InMemoryEventBus(1000, 10, { logger: silentLogger }), storage, {
  isolation: "inline",
  sharding,
  maxConcurrentReconciles: 64,
  logger: silentLogger,
});
await controller.registerReconciler(new GatedReconciler());
await controller.start();
// Every device is queued here before the gate opens: idle after it means every
// status this process owes is written. The line carries its own time, so the
// bench's clock needs no watch of the writes (which would be a fourth process
// reading every one of them on the same 2 cores).
void opened.then(async () => {
  await controller.idle();
  process.stdout.write(`${JSON.stringify({ drainedAt: Date.now() })}\n`);
});
const report = setInterval(() => {
  const stats = controller.stats();
  process.stdout.write(`${JSON.stringify({ owned: stats.sharding?.owned ?? 0, members: stats.sharding?.members ?? 0, running: stats.running, queued: stats.queueDepth, reconciles: stats.reconciles })}\n`);
}, 100);
process.once("SIGTERM", () => {
  clearInterval(report);
  void controller
    .stop()
    .then(() => storage.close())
    .then(() => nc.close())
    .then(() => process.exit(0));
});
