// `npm run bench [-- --quick] [-- --only queue,backoff] [-- --runtime node|bun|deno|all] [-- --out DIR]`:
// runs the suites on each runtime in its own child process (Node from dist/, Bun and
// Deno from bench/*.ts), merges their reports, then writes RESULTS.md, results.json
// and the backoff plot. Every argument but --runtime is handed to each child.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { backoffSuite } from "./backoff.js";
import { e2eSuite } from "./e2e.js";
import { fleetSuite } from "./fleet-suite.js";
import { scaleSuite } from "./scale.js";
import { memorySuite } from "./memory.js";
import { natsSkipReason, natsSuite } from "./nats.js";
import { queueSuite } from "./queue.js";
import { backoffPlot, environment, resultsJson, resultsMarkdown, type BenchRun, type RunRecord, type SuiteContext, type SuiteReport } from "./results.js";
import { benchCommand, currentRuntime, installGc, repoRoot, RUNTIMES, runtimeVersion, UnsupportedOnRuntimeError, type RuntimeName } from "./runtime.js";
import { steadySuite } from "./steady.js";

const SUITES = {
  queue: queueSuite,
  backoff: backoffSuite,
  steady: steadySuite,
  fleet: fleetSuite,
  scale: scaleSuite,
  e2e: e2eSuite,
  nats: natsSuite,
  memory: memorySuite,
} as const satisfies Record<string, (ctx: SuiteContext) => Promise<SuiteReport | undefined>>;

type SuiteName = keyof typeof SUITES;

/** The suites that load `--reconciler` (ctx.reconciler) instead of their own. */
const RECONCILER_SUITES: readonly string[] = ["fleet"];

interface Args {
  quick: boolean;
  only: SuiteName[] | undefined;
  out: string | undefined;
  runtimes: RuntimeName[] | undefined;
  reconciler: string | undefined;
  /** Internal: run the suites here and write this runtime's RunRecord as JSON to this file. */
  report: string | undefined;
}

class UsageError extends Error {}

const VALUED = ["--only", "--out", "--runtime", "--reconciler", "--report"];

function parseArgs(argv: string[]): Args {
  const args: Args = { quick: false, only: undefined, out: undefined, runtimes: undefined, reconciler: undefined, report: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--quick") args.quick = true;
    else if (VALUED.includes(a)) {
      const value = argv[++i];
      if (value === undefined || value.startsWith("--")) throw new UsageError(`${a} needs a value`);
      if (a === "--out") args.out = value;
      else if (a === "--report") args.report = value;
      else if (a === "--reconciler") args.reconciler = value;
      else if (a === "--runtime") args.runtimes = parseRuntimes(value);
      else args.only = parseSuites(value);
    } else if (a === "-h" || a === "--help") {
      throw new UsageError("");
    } else {
      throw new UsageError(`unknown argument ${JSON.stringify(a)}`);
    }
  }
  if (args.reconciler !== undefined) checkReconciler(args);
  return args;
}

function parseSuites(value: string): SuiteName[] {
  const names = value.split(",").map((s) => s.trim());
  for (const name of names) {
    if (!(name in SUITES)) throw new UsageError(`--only: unknown suite ${JSON.stringify(name)} (suites: ${Object.keys(SUITES).join(", ")})`);
  }
  return names as SuiteName[];
}

function parseRuntimes(value: string): RuntimeName[] {
  if (value === "all") return [...RUNTIMES];
  const names = value.split(",").map((s) => s.trim());
  for (const name of names) {
    if (!(RUNTIMES as readonly string[]).includes(name)) throw new UsageError(`--runtime: unknown runtime ${JSON.stringify(name)} (runtimes: ${RUNTIMES.join(", ")}, all)`);
  }
  return [...new Set(names)] as RuntimeName[];
}

/** Relative to where the user typed the command: `npm run` moves to the package root, INIT_CWD is where it started. */
function reconcilerPath(file: string): string {
  return resolve(process.env.INIT_CWD ?? process.cwd(), file);
}

function checkReconciler(args: Args): void {
  const selected: string[] = args.only ?? Object.keys(SUITES);
  if (!selected.some((name) => RECONCILER_SUITES.includes(name))) {
    throw new UsageError(`--reconciler is used by the ${RECONCILER_SUITES.join(", ")} suite${RECONCILER_SUITES.length > 1 ? "s" : ""}, which ${args.only ? "--only leaves out" : "this build does not have"}`);
  }
  const path = reconcilerPath(args.reconciler!);
  if (!existsSync(path)) throw new UsageError(`--reconciler: no file ${JSON.stringify(path)}`);
  if (path.endsWith(".ts") && (args.runtimes ?? [currentRuntime()]).includes("node")) {
    throw new UsageError(`--reconciler: node cannot import a TypeScript module (${path}); build it to .js, or use --runtime bun or deno`);
  }
}

const USAGE = `Usage: npm run bench -- [--quick] [--only SUITE,...] [--runtime RUNTIME,...|all] [--out DIR] [--reconciler FILE]
  --quick       small sizes, few iterations (seconds per suite); writes RESULTS.quick.md / results.quick.json
  --only        run these suites (${Object.keys(SUITES).join(", ")}); files are then written only with --out
  --runtime     ${RUNTIMES.join(", ")} or all (default: the runtime running this script, node under npm run bench);
                each runs the same suites in its own process, Node from dist/, Bun and Deno from bench/*.ts
  --out         directory for the results (default: bench/ of the repository)
  --reconciler  a reconciler module (default export, as controller.registerReconciler takes) for the
                ${RECONCILER_SUITES.join(", ")} suite to run instead of its own; .js on node, .js or .ts on bun and deno`;

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    if (error.message) console.error(`run: ${error.message}`);
    console.error(USAGE);
    return error.message ? 2 : 0;
  }
  return args.report === undefined ? runAll(args) : runHere(args, args.report);
}

/** The parent: one child per runtime, one after the other (the machine is shared), then the files. */
async function runAll(args: Args): Promise<number> {
  const started = performance.now();
  const when = new Date().toISOString();
  const runtimes = args.runtimes ?? [currentRuntime()];
  const log = (line: string) => console.log(line);
  const scratch = mkdtempSync(join(tmpdir(), "converge-bench-"));
  const runs: RunRecord[] = [];
  const crashed: BenchRun["crashed"] = [];
  try {
    for (const runtime of runtimes) {
      const reportFile = join(scratch, `${runtime}.json`);
      const outcome = await runChild(runtime, childArgs(args, reportFile), runtimes.length > 1 ? `[${runtime}] ` : "");
      if (existsSync(reportFile)) runs.push(JSON.parse(readFileSync(reportFile, "utf8")) as RunRecord);
      else crashed.push({ runtime, error: outcome });
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const run: BenchRun = { quick: args.quick, when, durationMs: performance.now() - started, runtimes, runs, crashed };

  const outDir = args.out ?? (args.only ? undefined : join(repoRoot(), "bench"));
  if (outDir === undefined) {
    log("(--only without --out: no files written)");
  } else {
    mkdirSync(outDir, { recursive: true });
    const suffix = args.quick ? ".quick" : "";
    const svg = backoffPlot(run);
    const plotFile = svg === undefined ? undefined : `backoff-lateness${suffix}.svg`;
    if (svg !== undefined) writeFileSync(join(outDir, plotFile!), svg);
    writeFileSync(join(outDir, `RESULTS${suffix}.md`), resultsMarkdown(run, plotFile));
    writeFileSync(join(outDir, `results${suffix}.json`), resultsJson(run));
    log(`wrote ${resolve(outDir, `RESULTS${suffix}.md`)}, results${suffix}.json${plotFile ? `, ${plotFile}` : ""}`);
  }
  for (const record of runs) {
    const targets = record.reports.flatMap((r) => r.targets);
    const missed = targets.filter((t) => !t.met);
    log(`${record.env.runtime}: ${targets.length - missed.length}/${targets.length} targets met${missed.length ? `; missed: ${missed.map((t) => t.name).join(", ")}` : ""}`);
  }
  const failures = [...crashed.map((c) => `${c.runtime}: ${c.error}`), ...runs.flatMap((r) => r.failed.map((f) => `${r.runtime} ${f.suite}: ${f.error}`))];
  for (const failure of failures) console.error(`run: FAILED ${failure}`);
  log(`(${(run.durationMs / 1000).toFixed(0)} s)`);
  // Missed targets are findings, not failures: the exit status says only whether every suite ran on every runtime.
  return failures.length > 0 ? 1 : 0;
}

function childArgs(args: Args, reportFile: string): string[] {
  const out = ["--report", reportFile];
  if (args.quick) out.push("--quick");
  if (args.only) out.push("--only", args.only.join(","));
  if (args.reconciler) out.push("--reconciler", reconcilerPath(args.reconciler));
  return out;
}

/** Runs `bench/run` on `runtime`, its output prefixed; resolves with what went wrong, if anything. */
function runChild(runtime: RuntimeName, args: string[], prefix: string): Promise<string> {
  const { command, args: argv } = benchCommand(runtime, "run", args);
  if (runtime === "node" && !existsSync(argv[1])) return Promise.resolve(`${argv[1]} is missing: run \`npm run build\``);
  return new Promise((done) => {
    const child = spawn(command, argv, { cwd: repoRoot(), stdio: ["ignore", "pipe", "pipe"] });
    let stderrTail = "";
    const relay = (stream: NodeJS.ReadableStream, write: (line: string) => void, keep: boolean) => {
      let pending = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        pending += chunk;
        const lines = pending.split("\n");
        pending = lines.pop()!;
        for (const line of lines) write(`${prefix}${line}`);
        if (keep) stderrTail = (stderrTail + chunk).slice(-2000);
      });
      stream.on("end", () => pending && write(`${prefix}${pending}`));
    };
    relay(child.stdout, (line) => console.log(line), false);
    relay(child.stderr, (line) => console.error(line), true);
    child.on("error", (error) => done(`${command} did not start: ${error.message}`));
    child.on("close", (code, signal) => done(`${runtimeLabel(runtime)} exited with ${signal ?? `status ${code}`}${stderrTail ? `: ${stderrTail.trim().split("\n").pop()}` : ""}`));
  });
}

function runtimeLabel(runtime: RuntimeName): string {
  return runtime === "node" ? "node dist/bench/run.js" : `${runtime} bench/run.ts`;
}

/** A child: every selected suite on this runtime; a suite that throws is recorded and the others still run. */
async function runHere(args: Args, reportFile: string): Promise<number> {
  const started = performance.now();
  const when = new Date().toISOString();
  const hasGc = installGc();
  const env = environment();
  const log = (line: string) => console.log(line);
  log(`converge bench (${args.quick ? "quick" : "full"}): ${env.runtime}, ${env.cpus} CPUs, load ${env.loadAverageAtStart.join(" / ")}`);
  if (!hasGc) log(`(${runtimeVersion()} runs without an exposed gc: no garbage collection between timed runs; \`npm run bench\` exposes it)`);
  const ctx: SuiteContext = {
    quick: args.quick,
    log,
    runtime: currentRuntime(),
    reconciler: args.reconciler === undefined ? undefined : pathToFileURL(reconcilerPath(args.reconciler)),
  };
  const reports: SuiteReport[] = [];
  const skipped: string[] = [];
  const failed: RunRecord["failed"] = [];
  const unsupported: RunRecord["unsupported"] = [];
  for (const name of Object.keys(SUITES) as SuiteName[]) {
    if (args.only && !args.only.includes(name)) continue;
    const t0 = performance.now();
    const loadAverage = loadavg().map((x) => Number(x.toFixed(2)));
    let report: SuiteReport | undefined;
    try {
      report = await SUITES[name](ctx);
    } catch (error) {
      if (error instanceof UnsupportedOnRuntimeError) {
        log(`${name}: not measurable on ${error.runtime}: ${error.reason}`);
        unsupported.push({ suite: name, reason: error.reason });
        continue;
      }
      const message = error instanceof Error ? error.message : String(error);
      log(`${name}: FAILED: ${error instanceof Error && error.stack ? error.stack : message}`);
      failed.push({ suite: name, error: message });
      continue;
    }
    if (report === undefined) {
      skipped.push(`${name} (${name === "nats" ? natsSkipReason() ?? "skipped" : "skipped"})`);
      continue;
    }
    report.loadAverage = loadAverage;
    report.durationMs = performance.now() - t0;
    reports.push(report);
    for (const line of report.summary) log(`  ${line}`);
    log(`${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  const record: RunRecord = { runtime: ctx.runtime, quick: args.quick, when, durationMs: performance.now() - started, env, suites: Object.keys(SUITES), reports, skipped, failed, unsupported };
  writeFileSync(reportFile, JSON.stringify(record));
  return 0;
}

process.exitCode = await main();
