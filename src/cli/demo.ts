import { performance } from "node:perf_hooks";
import { setImmediate as nextLoopTurn } from "node:timers/promises";
import { Controller } from "../reconcile/controller.js";
import { ControllerMetrics } from "../metrics/metrics.js";
import { serveMetrics } from "../metrics/metrics-server.js";
import { StorageClient } from "../reconcile/storage-client.js";
import { ConflictError } from "../storage/errors.js";
import { CappedLogger } from "./capped-logger.js";
import { DemoControllerFleet } from "./demo-controller-fleet.js";
import { demoReconcilerUrl } from "./demo-reconciler-url.js";
import { openDemoBackends } from "./demo-backends.js";
import { processIO, type CliIO } from "./cli-io.js";
import { DEMO_DEVICE_KIND, FAIL_RATE_ENV, type DemoDevice, type DeviceState } from "./demo-device-reconciler.js";
import { resolveDemoOptions, type DemoOptions } from "./demo-options.js";
import type { DemoOutcome, DemoSummary } from "./demo-summary.js";
import { FleetTracker } from "./fleet-tracker.js";
import { NatsOutageReporter } from "./nats-outage-reporter.js";
import { ProgressReporter } from "./progress-reporter.js";

/** Devices created concurrently between turns of the event loop, so progress, workers and the watch keep up. */
const CREATE_CHUNK = 1_024;
/** How often the converged count is sampled for the summary's chart. */
const CONVERGENCE_SAMPLE_MS = 100;
/** A flip that keeps conflicting with status writes is given up after this many tries. */
const FLIP_ATTEMPTS = 10;

export function deviceUid(device: number): string {
  return `dev-${String(device + 1).padStart(6, "0")}`;
}

/** The device number of a demo uid, or -1. */
function deviceIndex(uid: string, size: number): number {
  const n = Number(uid.slice(4)) - 1;
  return Number.isInteger(n) && n >= 0 && n < size && uid === deviceUid(n) ? n : -1;
}

/**
 * Runs the demo: a fleet of simulated devices on the in-memory bus and
 * storage (or NATS JetStream + KV with `options.nats`), driven to their desired state by the demo's Device reconciler
 * (in worker threads by default), with some desired states changed once
 * they converge. Resolves with the summary once every device converged,
 * the timeout passed or `options.signal` aborted; everything it started is
 * stopped by then, so the process can exit on its own.
 */
export async function runDemo(options: Partial<DemoOptions> = {}, io: CliIO = processIO()): Promise<DemoSummary> {
  const opts = resolveDemoOptions(options);
  const progress = new ProgressReporter(io, () => sample(), opts.quiet ? "off" : io.stdout.isTTY ? "bar" : "lines");
  const logger = new CappedLogger((line) => progress.printAbove(line));
  const tracker = new FleetTracker(opts.devices, opts.changes);
  const backends = await openDemoBackends(opts.nats, logger);
  const { bus, storage } = backends;
  const client = new StorageClient(storage);
  const metrics = opts.metricsPort === undefined ? undefined : new ControllerMetrics();
  // One controller in this process, or (--controllers N) N processes sharing the fleet.
  const controller =
    opts.controllers > 1
      ? undefined
      : new Controller(bus, storage, { isolation: opts.isolation, workers: opts.workers, logger, workerLogLevel: "warn", metrics });
  const fleet =
    opts.controllers > 1
      ? new DemoControllerFleet(
          { count: opts.controllers, nats: opts.nats!, isolation: opts.isolation, workers: opts.workers, failRate: opts.failRate },
          (line) => progress.printAbove(line),
        )
      : undefined;
  const controllerStats = () => {
    if (fleet) return fleet.stats();
    const stats = controller!.stats();
    return { reconciles: stats.reconciles, retries: stats.failed + stats.timeouts + stats.crashes, failed: stats.failed, timeouts: stats.timeouts, crashes: stats.crashes, statusWrites: stats.statusWrites };
  };
  const unwatchNats = metrics && backends.connection ? metrics.watchNatsConnection(backends.connection) : undefined;
  const outage = new NatsOutageReporter((line) => progress.printAbove(line));
  if (backends.connection) outage.watch(backends.connection);
  const metricsServer = metrics && controller ? await serveMetrics({ port: opts.metricsPort!, metrics, health: controller.health }) : undefined;
  if (metricsServer) progress.printAbove(`metrics on ${metricsServer.url}/metrics (also /metrics.json, /healthz, /readyz)`);

  let startedAt = performance.now();
  let endedAt: number | undefined;
  const elapsed = () => (endedAt ?? performance.now()) - startedAt;
  const sample = () => {
    const stats = controllerStats();
    return {
      converged: tracker.converged,
      total: tracker.size,
      reconciles: stats.reconciles,
      retries: stats.retries,
      elapsedMs: elapsed(),
      natsUnavailable: outage.unavailable,
    };
  };

  // The run ends on the first of: all converged, timeout, abort, a broken watch.
  let finish!: (outcome: DemoOutcome) => void;
  const ended = new Promise<DemoOutcome>((resolve) => {
    finish = (outcome) => {
      endedAt ??= performance.now();
      resolve(outcome);
    };
  });
  const onAbort = () => finish("interrupted");
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  if (opts.signal?.aborted) finish("interrupted");

  let changesMade = 0;
  const flips = new Set<Promise<void>>();
  const flip = async (uid: string, desired: DeviceState): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      const current = await client.get(DEMO_DEVICE_KIND, uid);
      if (current === undefined) {
        logger.error({ kind: DEMO_DEVICE_KIND, uid }, "vanished before its desired state could be changed");
        finish("error");
        return;
      }
      try {
        // update() bumps metadata.generation: the reconciler sees a new spec.
        await client.update({ ...current, spec: { ...(current.spec as object), desired } });
        changesMade++;
        return;
      } catch (error) {
        if (!(error instanceof ConflictError) || attempt === FLIP_ATTEMPTS) {
          // That device can never reach the desired state the demo planned for it.
          logger.error({ kind: DEMO_DEVICE_KIND, uid, err: error }, "changing its desired state failed");
          finish("error");
          return;
        }
      }
    }
  };

  // Storage is the informer here too: every stored copy says whether a device reached its desired state.
  const watchAbort = new AbortController();
  const changes = storage.watch(DEMO_DEVICE_KIND, { signal: watchAbort.signal });
  const watching = (async () => {
    for await (const change of changes) {
      if (change.type !== "put") continue;
      const device = deviceIndex(change.uid, tracker.size);
      if (device < 0) continue;
      const value = change.value as DemoDevice;
      const seen = tracker.observe(device, value.spec?.desired, value.status?.state, performance.now());
      if (seen === "flip") {
        const flipping = flip(change.uid, tracker.desiredOf(device)).finally(() => flips.delete(flipping));
        flips.add(flipping);
      } else if (seen === "converged" && tracker.done) {
        finish("converged");
      }
    }
  })().catch((error: unknown) => {
    logger.error({ err: error }, "watching the fleet failed");
    finish("error");
  });

  const previousFailRate = process.env[FAIL_RATE_ENV];
  // Before start: worker threads copy the environment when they are created.
  process.env[FAIL_RATE_ENV] = String(opts.failRate);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let sampler: ReturnType<typeof setInterval> | undefined;
  const convergence: number[] = [];
  let outcome: DemoOutcome;
  try {
    if (controller) {
      await controller.registerReconciler(demoReconcilerUrl());
      await controller.start();
    } else fleet!.start();
    startedAt = performance.now();
    timer = setTimeout(() => finish("timeout"), opts.timeoutMs);
    sampler = setInterval(() => convergence.push(tracker.converged), CONVERGENCE_SAMPLE_MS);
    progress.start();
    let stopCreating = false;
    void ended.then(() => (stopCreating = true));
    // Created a chunk at a time, concurrently: on NATS a create is a round trip, and
    // pipelining them is what makes NATS fast.
    for (let first = 0; first < opts.devices && !stopCreating; first += CREATE_CHUNK) {
      const creating: Promise<unknown>[] = [];
      for (let device = first; device < Math.min(first + CREATE_CHUNK, opts.devices); device++) {
        tracker.setDesired(device, "running", performance.now());
        creating.push(client.create({ kind: DEMO_DEVICE_KIND, uid: deviceUid(device), spec: { desired: "running" }, status: { state: "stopped" } }));
      }
      await Promise.all(creating);
      await nextLoopTurn();
    }
    outcome = await ended;
    await Promise.all(flips);
  } finally {
    clearTimeout(timer);
    clearInterval(sampler);
    convergence.push(tracker.converged);
    opts.signal?.removeEventListener("abort", onAbort);
    progress.stop();
    watchAbort.abort();
    await controller?.stop();
    await fleet?.stop();
    unwatchNats?.();
    await metricsServer?.close();
    await backends.close();
    await watching;
    if (previousFailRate === undefined) delete process.env[FAIL_RATE_ENV];
    else process.env[FAIL_RATE_ENV] = previousFailRate;
  }

  // After stop(): reconciles in flight when the run ended are drained and counted.
  const stats = controllerStats();
  const elapsedMs = elapsed();
  return {
    outcome,
    devices: tracker.size,
    converged: tracker.converged,
    notConverged: tracker.size - tracker.converged,
    changesPlanned: tracker.flipsPlanned,
    changesMade,
    reconciles: stats.reconciles,
    reconcilesPerSecond: elapsedMs > 0 ? (stats.reconciles * 1_000) / elapsedMs : 0,
    retries: stats.retries,
    failed: stats.failed,
    timeouts: stats.timeouts,
    crashes: stats.crashes,
    statusWrites: stats.statusWrites,
    latencyMs: tracker.latency.summary(),
    elapsedMs,
    isolation: opts.isolation,
    workers: opts.workers,
    failRate: opts.failRate,
    backend: backends.description,
    suppressedWarnings: logger.suppressed,
    convergence,
    convergenceIntervalMs: CONVERGENCE_SAMPLE_MS,
  };
}
