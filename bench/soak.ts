// npm run soak: a bounded (~2 min) endurance run on NATS — 20,000 devices, 5%
// transient failures, random spec changes, a worker crash every ~1,000
// reconciles and two nats-server restarts (SIGKILL). At the end every device
// must have converged, no key may have run in two workers at once, and the
// heap must not have grown after warm-up. Prints its figures and writes
// bench/SOAK.md; exits non-zero when a check fails.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Controller, StorageClient, silentLogger, type Logger } from "../src/index.js";
import { JetStreamEventBus, KvStorage, connectNats } from "../src/nats.js";
import { NatsServer } from "../test/helpers/nats-server.js";
import { repoRoot, siblingModule } from "./runtime.js";
import type { SoakDevice } from "./soak-reconciler.js";

const { values } = parseArgs({
  options: {
    devices: { type: "string", default: "20000" },
    seconds: { type: "string", default: "75" },
    "fail-rate": { type: "string", default: "0.05" },
    "crash-every": { type: "string", default: "1000" },
    out: { type: "string" },
  },
});
const devices = positive(values.devices, "--devices");
const churnSeconds = positive(values.seconds, "--seconds");
const failRate = Number(values["fail-rate"]);
const crashEvery = positive(values["crash-every"], "--crash-every");
const KIND = "SoakDevice";

function positive(text: string | undefined, flag: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} must be a positive number, got ${text}`);
  return n;
}

const gc = (globalThis as { gc?: () => void }).gc;
const warn: Logger = { ...silentLogger, error: (m, ...a) => console.error(`[soak] ${m}`, ...a) };

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "converge-soak-"));
  const log = join(dir, "runs.log");
  process.env.CONVERGE_SOAK_FAIL_RATE = String(failRate);
  process.env.CONVERGE_SOAK_CRASH_RATE = String(1 / crashEvery);
  process.env.CONVERGE_SOAK_LOG = log;
  const server = await NatsServer.start();
  const nc = await connectNats({ servers: server.url, reconnectTimeWaitMs: 50 });
  const bus = new JetStreamEventBus(nc, { stream: "SOAK_EVENTS", subjectPrefix: "soak.events", deadLetterSubject: "soak.dead", logger: warn });
  const storage = await KvStorage.open(nc, { bucket: "soak", logger: warn });
  const client = new StorageClient(storage);
  const controller = new Controller(bus, storage, { workers: 2, logger: warn, reconcileTimeout: 10_000 });
  const started = performance.now();
  const figures: Record<string, string | number> = { devices, failRate, crashEvery };
  let failed = false;
  try {
    await controller.registerReconciler(siblingModule(import.meta.url, "soak-reconciler"));
    await controller.start();
    const uid = (i: number) => `d${String(i).padStart(6, "0")}`;
    for (let i = 0; i < devices; i += 500) {
      const chunk = [];
      for (let j = i; j < Math.min(i + 500, devices); j++) chunk.push(client.create({ kind: KIND, uid: uid(j), spec: { desired: "running" } }));
      await Promise.all(chunk);
    }
    figures.createSeconds = seconds(started);
    await untilConverged(storage, devices, 120_000);
    figures.firstConvergedSeconds = seconds(started);
    gc?.();
    const warmHeap = process.memoryUsage().heapUsed;

    // Churn: random spec changes, with two server crashes in the middle.
    const churnEnd = performance.now() + churnSeconds * 1000;
    const restartsAt = [churnSeconds * 0.3, churnSeconds * 0.65].map((s) => performance.now() + s * 1000);
    let changes = 0;
    let restarts = 0;
    while (performance.now() < churnEnd) {
      if (restarts < restartsAt.length && performance.now() >= restartsAt[restarts]) {
        await server.kill();
        await new Promise((resolve) => setTimeout(resolve, 500));
        await server.restart();
        restarts++;
      }
      const batch = [];
      for (let k = 0; k < 20; k++) {
        const i = Math.floor(Math.random() * devices);
        batch.push(flip(client, uid(i)).then((ok) => (changes += ok ? 1 : 0)));
      }
      await Promise.all(batch);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    figures.specChanges = changes;
    figures.serverRestarts = restarts;
    await untilConverged(storage, devices, 120_000);
    figures.totalSeconds = seconds(started);
    const stats = controller.stats();
    Object.assign(figures, {
      reconciles: stats.reconciles,
      failed: stats.failed,
      crashes: stats.crashes,
      timeouts: stats.timeouts,
      conflicts: stats.conflicts,
      statusWrites: stats.statusWrites,
    });
    gc?.();
    const endHeap = process.memoryUsage().heapUsed;
    figures.heapAfterWarmupMB = mb(warmHeap);
    figures.heapAtEndMB = mb(endHeap);
    const growth = (endHeap - warmHeap) / warmHeap;
    figures.heapGrowth = `${(growth * 100).toFixed(1)}%`;

    const overlaps = checkNoOverlap(readFileSync(log, "utf8"));
    figures.overlaps = overlaps;
    const checks = {
      "every device converged": true,
      "no key reconciled by two workers at once": overlaps === 0,
      "worker crashes happened and were survived": stats.crashes > 0,
      "heap did not grow after warm-up (< 20%)": growth < 0.2,
    };
    for (const [check, ok] of Object.entries(checks)) {
      console.log(`${ok ? "ok  " : "FAIL"} ${check}`);
      if (!ok) failed = true;
    }
    report(figures, checks);
  } catch (error) {
    console.error("[soak] failed:", error);
    failed = true;
  } finally {
    await controller.stop();
    await bus.close();
    await storage.close();
    await nc.close();
    await server.remove();
    rmSync(dir, { recursive: true, force: true });
  }
  return failed ? 1 : 0;
}

async function flip(client: StorageClient, uid: string): Promise<boolean> {
  try {
    const current = (await client.get(KIND, uid)) as SoakDevice | undefined;
    if (!current) return false;
    await client.update({ ...current, spec: { desired: current.spec.desired === "running" ? "stopped" : "running" } });
    return true;
  } catch {
    return false; // a conflict with a status write, or the server is restarting: the next flip is another
  }
}

async function untilConverged(storage: KvStorage, count: number, limitMs: number): Promise<void> {
  const deadline = performance.now() + limitMs;
  for (;;) {
    let done = 0;
    try {
      for (const d of (await storage.loadAll(KIND)) as SoakDevice[]) {
        if (d.status?.state === d.spec.desired && d.status?.observedGeneration === d.metadata?.generation) done++;
      }
    } catch {
      // the server may be coming back
    }
    if (done === count) return;
    if (performance.now() > deadline) throw new Error(`only ${done} of ${count} devices converged within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Counts starts of a key while it is already running (per the start/end/crash log). */
function checkNoOverlap(text: string): number {
  const running = new Map<string, string>(); // uid -> thread
  let overlaps = 0;
  for (const line of text.split("\n")) {
    const [op, uid, thread] = line.split(" ");
    if (op === "+") {
      if (running.has(uid)) overlaps++;
      running.set(uid, thread);
    } else if (op === "-") {
      running.delete(uid);
    } else if (op === "x") {
      for (const [key, t] of running) if (t === thread) running.delete(key);
    }
  }
  return overlaps;
}

function seconds(since: number): number {
  return Math.round((performance.now() - since) / 100) / 10;
}

function mb(bytes: number): number {
  return Math.round(bytes / 1e5) / 10;
}

function report(figures: Record<string, string | number>, checks: Record<string, boolean>): void {
  const lines = [
    "# Soak run",
    "",
    `${new Date().toISOString()} · ${process.release.name} ${process.version} · nats-server 2.9 · ${figures.devices} devices`,
    "",
    "| figure | value |",
    "|---|---|",
    ...Object.entries(figures).map(([k, v]) => `| ${k} | ${v} |`),
    "",
    "| check | result |",
    "|---|---|",
    ...Object.entries(checks).map(([k, ok]) => `| ${k} | ${ok ? "ok" : "FAILED"} |`),
    "",
  ];
  const text = lines.join("\n");
  console.log(text);
  const out = values.out ?? join(repoRoot(), "bench/SOAK.md");
  writeFileSync(out, text);
  if (values.out === undefined) updateResults(text);
}

/** Replaces (or appends) the soak section at the end of bench/RESULTS.md, as the bench runner lays it out. */
function updateResults(text: string): void {
  const file = join(repoRoot(), "bench/RESULTS.md");
  let results: string;
  try {
    results = readFileSync(file, "utf8");
  } catch {
    return; // no bench run yet: the next one picks SOAK.md up
  }
  const at = results.indexOf("\n## soak (");
  const head = (at >= 0 ? results.slice(0, at) : results).trimEnd();
  writeFileSync(file, `${head}\n\n## soak (\`npm run soak\`, last run)\n\n${text.replace(/^# .*\n+/, "").trim()}\n`);
}

process.exitCode = await main();
