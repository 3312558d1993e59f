// Error handling: four devices, one per kind of trouble, on one controller.
//   npm run build && node dist/examples/error-handling.js [--inline]
import {
  Controller,
  ExponentialBackoffRateLimiter,
  InMemoryEventBus,
  InMemoryStorage,
  StorageClient,
  findCondition,
  type Condition,
  type ControllerStats,
  type Isolation,
  type Logger,
  type Reconciler,
} from "../src/index.js";
import type { FlakyDevice } from "./flaky-device-reconciler.js";
import { ResourceHistory } from "./resource-history.js";

export interface ErrorHandlingExampleOptions {
  isolation?: Isolation;
  /** The FlakyDevice reconciler: a module URL (workers import it) or an instance (inline). */
  reconciler?: URL | Reconciler;
  logger?: Logger;
}

export interface ErrorHandlingExampleResult {
  /** Every device once all of them settled. */
  devices: Record<string, FlakyDevice>;
  /** The Ready condition of each stored version of each device, in order. */
  readyHistory: Record<string, Condition[]>;
  /** Counters once all devices settled. */
  stats: ControllerStats;
  /** dev-invalid once its spec got the missing config. */
  fixed: FlakyDevice;
}

/** Retries wait 10, 20, 40 ... ms (capped at 1 s). */
export const BACKOFF_BASE_MS = 10;

const DEVICES: FlakyDevice[] = [
  // Transient: refused three times, connects on the fourth attempt.
  { kind: "FlakyDevice", uid: "dev-transient", spec: { config: "default", failConnects: 3 } },
  // Permanent: no config. TerminalError, then the seed's variant.
  { kind: "FlakyDevice", uid: "dev-invalid", spec: {} },
  { kind: "FlakyDevice", uid: "dev-invalid-seed", spec: { onInvalidConfig: "condition" } },
  // Temporary: ready after three checks, 20 ms apart.
  { kind: "FlakyDevice", uid: "dev-warming", spec: { config: "default", warmupChecks: 3 } },
];

const ready = (d: FlakyDevice | undefined) => findCondition(d?.status?.conditions, "Ready");
const reconciled = (d: FlakyDevice | undefined) => findCondition(d?.status?.conditions, "Reconciled");

export async function runErrorHandlingExample(options: ErrorHandlingExampleOptions = {}): Promise<ErrorHandlingExampleResult> {
  const { isolation = "worker", logger } = options;
  const eventBus = new InMemoryEventBus(1000, 10);
  await eventBus.start();
  const storage = new InMemoryStorage();
  const client = new StorageClient(storage);
  const controller = new Controller(eventBus, storage, {
    workers: 2,
    isolation,
    logger,
    rateLimiter: new ExponentialBackoffRateLimiter(BACKOFF_BASE_MS, 1_000),
  });
  await controller.registerReconciler(options.reconciler ?? new URL("./flaky-device-reconciler.js", import.meta.url));
  const history = new ResourceHistory<FlakyDevice>(storage, "FlakyDevice");

  try {
    for (const device of DEVICES) await client.create(device);
    await controller.start();

    // Retries and requeues wait in the delay scheduler, which idle() does not
    // count: wait for each device's end state instead.
    await Promise.all([
      history.waitFor("dev-transient", (d) => ready(d)?.status === "True", 5_000, "Ready=True"),
      history.waitFor("dev-invalid", (d) => reconciled(d)?.status === "False", 5_000, "Reconciled=False"),
      history.waitFor("dev-invalid-seed", (d) => ready(d)?.reason === "InvalidConfig", 5_000, "Ready=False InvalidConfig"),
      history.waitFor("dev-warming", (d) => ready(d)?.status === "True", 5_000, "Ready=True"),
    ]);
    await controller.idle();
    const stats = controller.stats();
    const devices = Object.fromEntries(((await storage.loadAll("FlakyDevice")) as FlakyDevice[]).map((d) => [d.uid, d]));
    const readyHistory = Object.fromEntries(
      DEVICES.map(({ uid }) => [uid, history.versions(uid).flatMap((d) => ready(d) ?? [])]),
    );

    // A permanent error waits for a new spec: give dev-invalid its config.
    await client.update({ ...devices["dev-invalid"], spec: { config: "default" } });
    const fixed = (await history.waitFor("dev-invalid", (d) => reconciled(d)?.status === "True", 5_000, "Reconciled=True")) as FlakyDevice;

    return { devices, readyHistory, stats, fixed };
  } finally {
    await controller.stop();
    await history.stop();
    await eventBus.close();
    await storage.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { devices, stats, fixed } = await runErrorHandlingExample({ isolation: process.argv.includes("--inline") ? "inline" : "worker" });
  for (const device of Object.values(devices)) {
    const conditions = (device.status?.conditions ?? []).map((c) => `${c.type}=${c.status} (${c.reason}: ${c.message})`);
    console.log(`${device.uid}: ${conditions.join(", ")}`);
  }
  console.log(`failed ${stats.failed} times (retried), terminal ${stats.terminal} (not retried)`);
  console.log(`dev-invalid after its config was fixed: ${fixed.status?.conditions?.map((c) => `${c.type}=${c.status}`).join(", ")}`);
}
