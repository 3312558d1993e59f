import { availableParallelism } from "node:os";
import { InMemoryEventBus } from "../src/events/in-memory-event-bus.js";
import { Controller, type ControllerOptions, type Isolation } from "../src/reconcile/controller.js";
import { silentLogger } from "../src/reconcile/logger.js";
import type { InMemoryStorage } from "../src/storage/in-memory-storage.js";
import { calibrateSpin } from "./device.js";
import { runFleet, type FleetMode, type FleetResult, type FleetSystem } from "./fleet.js";
import { int, ms, rate, ratio, table } from "./format.js";
import { DirectWriter, NaiveController } from "./naive-controller.js";
import { figureRow, targetRow, type SuiteContext, type SuiteReport } from "./results.js";
import { siblingModule } from "./runtime.js";
import { median } from "./stats.js";

const TRIVIAL = siblingModule(import.meta.url, "trivial-reconciler");
const CPU_HEAVY = siblingModule(import.meta.url, "cpu-reconciler");
const CPU_WORK_US = 200;

/** A controller on `storage` reconciling with `reconciler`, as a fleet system; `options` adds to the defaults. */
export function controllerSystem(reconciler: URL, isolation: Isolation, workers: number, options: ControllerOptions = {}) {
  return async (storage: InMemoryStorage): Promise<FleetSystem> => {
    const bus = new InMemoryEventBus(1000, 10, { logger: silentLogger });
    const controller = new Controller(bus, storage, { isolation, workers, logger: silentLogger, ...options });
    await controller.registerReconciler(reconciler);
    await controller.start();
    return {
      reconciles: () => controller.stats().reconciles,
      stop: async () => {
        await controller.stop();
        await bus.close();
      },
    };
  };
}

function naiveSystem(threads: number) {
  return async (storage: InMemoryStorage): Promise<FleetSystem> => {
    const naive = new NaiveController(storage, threads);
    await naive.start();
    return { reconciles: () => naive.reconciles, stop: () => naive.stop() };
  };
}

function directSystem() {
  return async (storage: InMemoryStorage): Promise<FleetSystem> => {
    const direct = new DirectWriter(storage);
    await direct.start();
    return { reconciles: () => direct.writes, stop: () => direct.stop() };
  };
}

interface Row {
  id: string;
  mode: FleetMode;
  label: string;
  rep: number;
  result: FleetResult;
}

interface Contender {
  id: string;
  label: string;
  start: Parameters<typeof runFleet>[1];
}

function rowCells(r: Row, reps: number): (string | number)[] {
  const x = r.result;
  return [
    reps > 1 ? `${r.label} (run ${r.rep + 1})` : r.label,
    int(x.devices),
    int(x.reconciles),
    `${(x.elapsedMs / 1000).toFixed(2)} s`,
    rate(x.perSecond),
    ms(x.latency.p50),
    ms(x.latency.p99),
    ms(x.latency.max),
    `${x.cpuSeconds.toFixed(1)} s`,
    `${(x.createMs / 1000).toFixed(2)} s`,
  ];
}


const HEADERS = ["system", "devices", "reconciles", "first pass", "devices/s", "latency p50", "p99", "max", "process CPU", "create feed"];

export async function e2eSuite(ctx: SuiteContext): Promise<SuiteReport> {
  const workers = availableParallelism();
  const devices = ctx.quick ? 5_000 : 100_000;
  const cpuDevices = ctx.quick ? 2_000 : 100_000;
  const warmup = ctx.quick ? 500 : 2_000;
  ctx.log(`e2e: ${int(devices)} devices (trivial), ${int(cpuDevices)} (CPU-heavy), ${workers} workers`);

  // The machine is shared: each set of contenders runs `reps` times, in forward then reverse
  // order (ABBA), and a ratio is taken within each repetition, then the median (mean of two).
  const reps = ctx.quick ? 1 : 2;
  const runSet = async (contenders: Contender[], n: number, mode: FleetMode, spec = {}): Promise<Row[]> => {
    const rows: Row[] = [];
    // A small fleet first, so each system's main-thread code is compiled before it is timed.
    for (const c of contenders) await runFleet(warmup, c.start, spec, mode);
    for (let rep = 0; rep < reps; rep++) {
      for (const c of rep % 2 === 0 ? contenders : [...contenders].reverse()) {
        const result = await runFleet(n, c.start, spec, mode);
        ctx.log(`e2e ${mode} ${c.label}${reps > 1 ? ` (run ${rep + 1})` : ""}: ${rate(result.perSecond)} devices, p50 ${ms(result.latency.p50)}, p99 ${ms(result.latency.p99)}, ${result.reconciles} reconciles, CPU ${result.cpuSeconds.toFixed(1)} s`);
        rows.push({ id: c.id, label: c.label, mode, rep, result });
      }
    }
    return rows.sort((a, b) => contenders.findIndex((c) => c.id === a.id) - contenders.findIndex((c) => c.id === b.id) || a.rep - b.rep);
  };
  const ratioOf = (rows: Row[], a: string, b: string): number => {
    const per: number[] = [];
    for (let rep = 0; rep < reps; rep++) {
      const x = rows.find((r) => r.id === a && r.rep === rep)!.result.perSecond;
      const y = rows.find((r) => r.id === b && r.rep === rep)!.result.perSecond;
      per.push(x / y);
    }
    return median(per);
  };

  const trivialContenders: Contender[] = [
    { id: "naive", label: `naive: one Piscina task per key (${workers} threads)`, start: naiveSystem(workers) },
    { id: "worker", label: `Controller, isolation "worker" (${workers} workers, streamed)`, start: controllerSystem(TRIVIAL, "worker", workers) },
    { id: "inline", label: `Controller, isolation "inline"`, start: controllerSystem(TRIVIAL, "inline", workers) },
    { id: "direct", label: "floor: status written straight from storage (no queue, reconciler or worker)", start: directSystem() },
  ];
  const trivial = await runSet(trivialContenders, devices, "existing");
  const feed = await runSet(trivialContenders, devices, "feed");

  const { rounds, nsPerRound } = calibrateSpin(CPU_WORK_US);
  ctx.log(`e2e CPU-heavy: ${rounds} hash rounds = ${CPU_WORK_US} µs here (${nsPerRound.toFixed(2)} ns/round)`);
  const cpu = await runSet(
    [
      { id: "cpuWorker", label: `Controller, isolation "worker" (${workers} workers)`, start: controllerSystem(CPU_HEAVY, "worker", workers) },
      { id: "cpuInline", label: `Controller, isolation "inline"`, start: controllerSystem(CPU_HEAVY, "inline", workers) },
    ],
    cpuDevices,
    "existing",
    { spin: rounds },
  );
  const poolVsNaive = ratioOf(trivial, "worker", "naive");
  const cpuPoolVsInline = ratioOf(cpu, "cpuWorker", "cpuInline");

  const targets = [
    targetRow("e2e.pool_vs_naive_piscina", poolVsNaive, 3, "higher", "x"),
    targetRow("e2e.cpu_pool_vs_inline", cpuPoolVsInline, 1.6, "higher", "x"),
  ];
  const idealCpuS = (cpuDevices * CPU_WORK_US) / 1e6;
  const markdown = [
    `In-memory: \`InMemoryEventBus\` + \`InMemoryStorage\` + \`Controller\`, ${workers} workers, ${int(devices)} devices ` +
      `(spec \`desired: "running"\`, status \`state: "stopped"\`). A run ends when a storage watch has seen every device's status reach \`running\`. ` +
      `Each system first converges a ${int(warmup)}-device fleet (not timed) so its main-thread code is warm. "process CPU" is every thread's CPU time during the run. ` +
      (reps > 1
        ? `Each table's systems ran ${reps} times, in forward then reverse order; ratios are taken within a repetition, then averaged.`
        : ""),
    "",
    `Trivial reconciler (\`bench/trivial-reconciler.ts\`, registered by URL: \`dist/bench/*.js\` on Node, \`bench/*.ts\` on Bun and Deno): one \`updateStatus\`. The naive baseline ` +
      `(\`bench/naive-controller.ts\` + \`bench/naive-worker.ts\`) lists and watches storage, loads each unconverged device and sends it to Piscina as one task ` +
      `(the plain object, structured clone); the worker returns the status and the main thread writes it with CAS, as the controller does. ` +
      `The "floor" row is not a contender: it loads each device and writes its status with CAS straight from the list and the watch on the main thread ` +
      `(no queue, reconciler or worker), so it does only the storage work every system must do; no system sharing that main thread can beat it.`,
    "",
    `**First pass on an existing fleet (the target).** Every device is in storage before the system starts; the clock starts with the system ` +
      `(its list is part of the pass), and latency is start -> converged, so p50 is when half the fleet had converged.`,
    "",
    table(HEADERS.slice(0, -1), trivial.map((r) => rowCells(r, reps).slice(0, -1))),
    "",
    `Pool vs naive: **${ratio(poolVsNaive)}** (target >= 3x); inline vs naive: ${ratio(ratioOf(trivial, "inline", "naive"))}; ` +
      `pool vs inline: ${ratio(ratioOf(trivial, "worker", "inline"))}; the floor bounds the reachable pool-vs-naive ratio at ${ratio(ratioOf(trivial, "direct", "naive"))} in this run.`,
    "",
    `**A fleet created while the system runs (change -> converged).** The system starts on empty storage, then the devices are created in chunks of 1024 ` +
      `per event-loop turn on the same main thread ("create feed" is how long that took); latency is create -> converged. Not a target: the creates ` +
      `compete with the system for the main thread, which caps every row near the floor.`,
    "",
    table(HEADERS, feed.map((r) => rowCells(r, reps))),
    "",
    `Pool vs naive here: ${ratio(ratioOf(feed, "worker", "naive"))}; inline vs naive: ${ratio(ratioOf(feed, "inline", "naive"))}; floor vs naive: ${ratio(ratioOf(feed, "direct", "naive"))}.`,
    "",
    `CPU-heavy reconciler (\`bench/cpu-reconciler.ts\`), first pass on an existing fleet: ${int(rounds)} rounds of a xorshift hash per reconcile, calibrated once on the main thread to ${CPU_WORK_US} µs ` +
      `(${int(cpuDevices)} devices = ${idealCpuS.toFixed(1)} s of reconciler CPU in total; ${(idealCpuS / workers).toFixed(1)} s is the floor on ${workers} cores).`,
    "",
    table(HEADERS.slice(0, -1), cpu.map((r) => rowCells(r, reps).slice(0, -1))),
    "",
    `Pool vs inline: **${ratio(cpuPoolVsInline)}** (target >= 1.6x on ${workers} cores).`,
  ].join("\n");
  const all = [...trivial, ...feed, ...cpu];
  return {
    name: "e2e",
    markdown,
    targets,
    figures: [figureRow("e2e.inline_vs_naive_piscina", ratioOf(trivial, "inline", "naive"), "x")],
    summary: targets.map((t) => `${t.name} = ${t.value}${t.unit} (target ${t.better === "higher" ? ">=" : "<="} ${t.target}) ${t.met ? "met" : "MISSED"}`),
    data: { workers, devices, cpuDevices, cpuWorkUs: CPU_WORK_US, spinRounds: rounds, repetitions: reps, runs: all.map((r) => ({ id: r.id, label: r.label, mode: r.mode, run: r.rep + 1, ...r.result })) },
  };
}
