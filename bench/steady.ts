import { InMemoryEventBus } from "../src/events/in-memory-event-bus.js";
import { Controller } from "../src/reconcile/controller.js";
import { silentLogger } from "../src/reconcile/logger.js";
import { InMemoryStorage } from "../src/storage/in-memory-storage.js";
import { DEVICE_KIND, deviceUid, type BenchDevice } from "./device.js";
import { int, table } from "./format.js";
import { targetRow, type SuiteContext, type SuiteReport } from "./results.js";
import { MAX_CHECK_MS, MIN_CHECK_MS } from "./steady-reconciler.js";

const STEADY = new URL("./steady-reconciler.js", import.meta.url);

function convergedDevice(i: number): BenchDevice {
  return { kind: DEVICE_KIND, uid: deviceUid(i), spec: { desired: "running" }, status: { state: "running" } };
}

/**
 * What a converged fleet costs: `devices` devices that need nothing, each
 * checked again every 1..300 s (`requeueAfter`), on a Controller with default
 * options (worker isolation). Uses only the Controller's public API
 * (construct, registerReconciler by URL, start, idle, stop).
 */
export async function steadySuite(ctx: SuiteContext): Promise<SuiteReport> {
  const devices = 100_000;
  const windowMs = ctx.quick ? 5_000 : 30_000;
  ctx.log(`steady: ${int(devices)} converged devices, checks every ${MIN_CHECK_MS / 1000}..${MAX_CHECK_MS / 1000} s, CPU over ${windowMs / 1000} s`);

  const storage = new InMemoryStorage();
  for (let i = 0; i < devices; i++) await storage.save(DEVICE_KIND, deviceUid(i), convergedDevice(i), { expectedRevision: 0 });
  const bus = new InMemoryEventBus(1000, 10, { logger: silentLogger });
  const controller = new Controller(bus, storage, { logger: silentLogger });
  let cpuMs: number;
  let wallMs: number;
  let firstPassMs: number;
  let firstPassCpuMs: number;
  let checks: number;
  try {
    await controller.registerReconciler(STEADY);
    (globalThis as { gc?: () => void }).gc?.();
    const cpuStart = process.cpuUsage();
    const t0 = performance.now();
    await controller.start();
    await controller.idle(); // the first pass: every device reconciled once, each now waits for its check
    firstPassMs = performance.now() - t0;
    const firstPassCpu = process.cpuUsage(cpuStart);
    firstPassCpuMs = (firstPassCpu.user + firstPassCpu.system) / 1000;
    // process.cpuUsage covers every thread of the process: the main thread and the workers.
    const cpu0 = process.cpuUsage();
    const reconciles0 = controller.stats().reconciles;
    const t1 = performance.now();
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    const cpu = process.cpuUsage(cpu0);
    wallMs = performance.now() - t1;
    checks = controller.stats().reconciles - reconciles0;
    cpuMs = (cpu.user + cpu.system) / 1000;
  } finally {
    await controller.stop();
    await storage.close();
  }
  const percent = (100 * cpuMs) / wallMs;
  // Checks falling due in the window: those of the first pass (each device's first check is
  // uniform in 1..300 s) plus the re-checks of the ones due early; about 1/300 of the fleet per second at most.
  ctx.log(`steady: first pass ${(firstPassMs / 1000).toFixed(2)} s (CPU ${(firstPassCpuMs / 1000).toFixed(2)} s); then ${percent.toFixed(1)}% of a core over ${(wallMs / 1000).toFixed(1)} s`);

  const targets = [targetRow("steady.cpu_percent_100k", percent, 10, "lower", "%")];
  // Right after the first pass only the checks with short first delays fall due (~1/300 of the
  // fleet a second); once every device has been re-checked, the mean interval is 150 s, twice that
  // rate. The CPU per check, and that rate, say what the fleet costs for good.
  const perSecond = (checks * 1000) / wallMs;
  const usPerCheck = perSecond > 0 ? (cpuMs * 1000) / checks : 0;
  const steadyRate = devices / ((MIN_CHECK_MS + MAX_CHECK_MS) / 2 / 1000);
  const steadyPercent = (usPerCheck * steadyRate) / 10_000;
  const markdown = [
    `${int(devices)} devices in \`InMemoryStorage\`, all converged (status already as desired), and a reconciler (\`bench/steady-reconciler.ts\`, registered by URL) ` +
      `that writes nothing and returns \`requeueAfter\` uniform in ${MIN_CHECK_MS / 1000}..${MAX_CHECK_MS / 1000} s: a fleet's periodic checks. ` +
      `\`Controller\` with default options (worker isolation, one worker per CPU). After the first pass (start to \`idle()\`), ` +
      `the process's CPU time (every thread: main and workers) over ${windowMs / 1000} s of wall time, as % of one core. ` +
      `In that window about ${int((devices * (windowMs / 1000)) / ((MAX_CHECK_MS - MIN_CHECK_MS) / 1000))} checks fall due (the first checks are uniform over 1..300 s).`,
    "",
    table(
      ["devices", "first pass", "first pass CPU", "window", "checks in it", "process CPU", "% of a core", "CPU per check"],
      [[int(devices), `${(firstPassMs / 1000).toFixed(2)} s`, `${(firstPassCpuMs / 1000).toFixed(2)} s`, `${(wallMs / 1000).toFixed(1)} s`, `${int(checks)} (${perSecond.toFixed(0)}/s)`, `${(cpuMs / 1000).toFixed(2)} s`, `${percent.toFixed(1)}%`, `${usPerCheck.toFixed(0)} µs`]],
    ),
    "",
    `Not a target, for the fleet's whole life: once every device has been re-checked, the mean interval is ${(MIN_CHECK_MS + MAX_CHECK_MS) / 2000} s, ` +
      `so ${steadyRate.toFixed(0)} checks fall due a second, about twice the window's rate; at this run's CPU per check (which includes the fixed cost of ` +
      `idle threads and timers, so it overstates the growth) that is at most **${steadyPercent.toFixed(1)}%** of a core.`,
  ].join("\n");
  return {
    name: "steady",
    markdown,
    targets,
    summary: targets.map((t) => `${t.name} = ${t.value} ${t.unit} (target <= ${t.target}) ${t.met ? "met" : "MISSED"}`),
    data: { devices, windowMs, wallMs, cpuMs, firstPassMs, firstPassCpuMs, percent, checks, usPerCheck, steadyRate, steadyPercent },
  };
}
