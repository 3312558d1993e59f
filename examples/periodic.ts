// Periodic reconciliation: one Probe is created once, and is then re-checked
// every 50 ms with no event at all, until the controller stops.
//   npm run build && node dist/examples/periodic.js [--inline]
import {
  Controller,
  InMemoryEventBus,
  InMemoryStorage,
  type ControllerStats,
  type Isolation,
  type Logger,
  type Reconciler,
} from "../src/index.js";
import type { Probe, ProbeStatus } from "./periodic-reconciler.js";
import { ResourceHistory } from "./resource-history.js";

export interface PeriodicExampleOptions {
  isolation?: Isolation;
  /** The Probe reconciler: a module URL (workers import it) or an instance (inline). */
  reconciler?: URL | Reconciler;
  /** Checks to wait for before stopping. Default 4. */
  checks?: number;
  intervalMs?: number;
  logger?: Logger;
}

export interface PeriodicExampleResult {
  /** The probe's status after each check, in order. */
  checks: ProbeStatus[];
  /** The probe as stored two periods after the controller stopped. */
  final: Probe;
  stats: ControllerStats;
}

export async function runPeriodicExample(options: PeriodicExampleOptions = {}): Promise<PeriodicExampleResult> {
  const { isolation = "worker", checks = 4, intervalMs = 50, logger } = options;
  const eventBus = new InMemoryEventBus(1000, 10);
  await eventBus.start();
  const storage = new InMemoryStorage();
  const controller = new Controller(eventBus, storage, { workers: 2, isolation, logger });
  await controller.registerReconciler(options.reconciler ?? new URL("./periodic-reconciler.js", import.meta.url));
  const history = new ResourceHistory<Probe>(storage, "Probe");

  try {
    // Stored before start: the controller's initial list picks it up. Nothing
    // else touches it afterwards — every later check is the periodic requeue.
    const probe: Probe = { kind: "Probe", uid: "probe-1", spec: { target: "db.example", intervalMs } };
    await storage.save(probe.kind, probe.uid, probe);
    await controller.start();

    await history.waitFor("probe-1", (p) => (p?.status?.checks ?? 0) >= checks, 5_000, `${checks} checks`);
    await controller.stop();
    const stats = controller.stats();

    // Stopped: no check runs any more, however long we wait.
    await new Promise((resolve) => setTimeout(resolve, 2 * intervalMs));
    const final = (await storage.load("Probe", "probe-1")) as Probe;
    const statuses = history.versions("probe-1").flatMap((p) => (p?.status ? [p.status] : []));
    return { checks: statuses, final, stats };
  } finally {
    await controller.stop();
    await history.stop();
    await eventBus.close();
    await storage.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { checks, final, stats } = await runPeriodicExample({ isolation: process.argv.includes("--inline") ? "inline" : "worker" });
  const start = checks[0].lastCheckedAt;
  for (const check of checks) console.log(`check ${check.checks} at +${check.lastCheckedAt - start} ms`);
  console.log(`probe-1: ${final.status?.checks} checks, ${stats.reconciles} reconciles, then stopped`);
}
