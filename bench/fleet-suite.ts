// The fleet suite: device reconciles that wait on a network, some devices
// slow. Time to converge every device, against an ideal async pool with the
// same concurrency doing the same waits (start the next key the moment one
// finishes; no queue, storage or threads), measured in the same run.
import { setTimeout as sleep } from "node:timers/promises";
import { availableParallelism } from "node:os";
import type { Isolation } from "../src/reconcile/controller.js";
import { waitOf, type BenchDevice } from "./device.js";
import { controllerSystem } from "./e2e.js";
import { runFleet } from "./fleet.js";
import { int, ms, ratio, table } from "./format.js";
import { targetRow, type SuiteContext, type SuiteReport } from "./results.js";
import { siblingModule } from "./runtime.js";
import { median } from "./stats.js";

const WAIT = siblingModule(import.meta.url, "wait-reconciler");
const CONCURRENCY = 512;

interface Load {
  id: "tail" | "uniform";
  label: string;
  spec: BenchDevice["spec"];
}

/** The ideal: `concurrency` async lanes, each taking the next device the moment it finishes one. */
async function idealPool(devices: number, spec: BenchDevice["spec"], concurrency: number): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  const lane = async () => {
    while (next < devices) await sleep(waitOf(next++, spec));
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, devices) }, lane));
  return performance.now() - t0;
}


export async function fleetSuite(ctx: SuiteContext): Promise<SuiteReport> {
  const workers = availableParallelism();
  const devices = ctx.quick ? 2_000 : 10_000;
  const reps = ctx.quick ? 1 : 3;
  const slowMs = ctx.quick ? 1_000 : 3_000;
  const loads: Load[] = [
    { id: "tail", label: `20 ms each, 1% wait ${slowMs / 1000} s`, spec: { desired: "running", waitMs: 20, slowEvery: 100, slowMs } },
    { id: "uniform", label: "100 ms each", spec: { desired: "running", waitMs: 100 } },
  ];
  // A user's reconciler (`--reconciler`) reconciles the same Device resources, with the same spec.
  const reconciler = ctx.reconciler ?? WAIT;
  ctx.log(`fleet: ${int(devices)} devices, concurrency ${CONCURRENCY}, ${workers} workers, ${reps} repetition(s), reconciler ${reconciler.pathname.split("/").pop()}`);
  // Compiled before it is timed.
  await runFleet(500, controllerSystem(reconciler, "worker", workers, { maxConcurrentReconciles: CONCURRENCY }), { desired: "running", waitMs: 1 }, "existing");
  await runFleet(500, controllerSystem(reconciler, "inline", workers, { maxConcurrentReconciles: CONCURRENCY }), { desired: "running", waitMs: 1 }, "existing");

  const rows: (string | number)[][] = [];
  const targets = [];
  const data: Record<string, unknown> = { devices, concurrency: CONCURRENCY, workers, repetitions: reps };
  for (const load of loads) {
    const ratios: Record<Isolation, number[]> = { worker: [], inline: [] };
    const times: Record<"ideal" | Isolation, number[]> = { ideal: [], worker: [], inline: [] };
    for (let rep = 0; rep < reps; rep++) {
      // Alternate the order (the machine is shared): each ratio is taken against the ideal of its own repetition.
      const order: Isolation[] = rep % 2 === 0 ? ["worker", "inline"] : ["inline", "worker"];
      const ideal = await idealPool(devices, load.spec, CONCURRENCY);
      times.ideal.push(ideal);
      for (const isolation of order) {
        const result = await runFleet(devices, controllerSystem(reconciler, isolation, workers, { maxConcurrentReconciles: CONCURRENCY }), load.spec, "existing");
        times[isolation].push(result.elapsedMs);
        ratios[isolation].push(ideal / result.elapsedMs);
        ctx.log(`fleet ${load.id} ${isolation}: ${ms(result.elapsedMs)} (ideal ${ms(ideal)}), ${result.reconciles} reconciles, CPU ${result.cpuSeconds.toFixed(1)} s`);
      }
    }
    for (const isolation of ["worker", "inline"] as const) {
      const value = median(ratios[isolation]);
      targets.push(targetRow(`fleet.${load.id}_vs_ideal_${isolation}`, value, 0.8, "higher", "x"));
      rows.push([load.label, isolation, ms(median(times.ideal)), ms(median(times[isolation])), ratio(value)]);
    }
    data[load.id] = times;
  }
  const markdown = [
    `${int(devices)} devices on the in-memory backends; each reconcile waits on a simulated network (\`setTimeout\` with the reconcile's own ` +
      `\`ctx.signal\`, \`bench/wait-reconciler.ts\`) and then writes its status. The controller runs with \`maxConcurrentReconciles: ${CONCURRENCY}\`; ` +
      `the ideal is ${CONCURRENCY} async lanes doing the same waits and nothing else (no list, queue, storage, threads). Time to converge = ` +
      `from the controller's start (its initial list included) until a storage watch has seen every device converged. ` +
      `Ratio = ideal time / converge time, median of ${reps} repetition(s) in alternating order.`,
    "",
    table(["load", "isolation", "ideal pool", "controller", "ideal / controller"], rows),
  ].join("\n");
  return {
    name: "fleet",
    markdown,
    targets,
    summary: targets.map((t) => `${t.name} = ${t.value}${t.unit} (target >= ${t.target}) ${t.met ? "met" : "MISSED"}`),
    data,
  };
}
