// `npm run bench [-- --quick] [-- --only queue,backoff] [-- --out DIR]`: runs the
// suites, then writes RESULTS.md, results.json and the backoff plot.
import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { backoffSuite } from "./backoff.js";
import { e2eSuite } from "./e2e.js";
import { memorySuite } from "./memory.js";
import { natsSkipReason, natsSuite } from "./nats.js";
import { queueSuite } from "./queue.js";
import { steadySuite } from "./steady.js";
import { environment, resultsJson, resultsMarkdown, type RunRecord, type SuiteContext, type SuiteReport } from "./results.js";

const SUITES = {
  queue: queueSuite,
  backoff: backoffSuite,
  steady: steadySuite,
  e2e: e2eSuite,
  nats: natsSuite,
  memory: memorySuite,
} as const satisfies Record<string, (ctx: SuiteContext) => Promise<SuiteReport | undefined>>;

type SuiteName = keyof typeof SUITES;

interface Args {
  quick: boolean;
  only: SuiteName[] | undefined;
  out: string | undefined;
}

class UsageError extends Error {}

function parseArgs(argv: string[]): Args {
  const args: Args = { quick: false, only: undefined, out: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--quick") args.quick = true;
    else if (a === "--only" || a === "--out") {
      const value = argv[++i];
      if (value === undefined) throw new UsageError(`${a} needs a value`);
      if (a === "--out") args.out = value;
      else {
        const names = value.split(",").map((s) => s.trim());
        for (const name of names) {
          if (!(name in SUITES)) throw new UsageError(`--only: unknown suite ${JSON.stringify(name)} (suites: ${Object.keys(SUITES).join(", ")})`);
        }
        args.only = names as SuiteName[];
      }
    } else if (a === "-h" || a === "--help") {
      throw new UsageError("");
    } else {
      throw new UsageError(`unknown argument ${JSON.stringify(a)}`);
    }
  }
  return args;
}

const USAGE = `Usage: node --expose-gc dist/bench/run.js [--quick] [--only SUITE,...] [--out DIR]
  --quick   small sizes, few iterations (under a minute); writes RESULTS.quick.md / results.quick.json
  --only    run these suites (${Object.keys(SUITES).join(", ")}); files are then written only with --out
  --out     directory for the results (default: bench/ of the repository)`;

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
  const started = performance.now();
  const when = new Date().toISOString();
  const env = environment();
  const log = (line: string) => console.log(line);
  log(`converge bench (${args.quick ? "quick" : "full"}): ${env.runtime}, ${env.cpus} CPUs, load ${env.loadAverageAtStart.join(" ")}`);
  if (typeof (globalThis as { gc?: unknown }).gc !== "function") {
    log("(node runs without --expose-gc: no garbage collection between timed runs; `npm run bench` passes it)");
  }
  const ctx: SuiteContext = { quick: args.quick, log };
  const reports: SuiteReport[] = [];
  const skipped: string[] = [];
  for (const name of Object.keys(SUITES) as SuiteName[]) {
    if (args.only && !args.only.includes(name)) continue;
    const t0 = performance.now();
    const loadAverage = loadavg().map((x) => Number(x.toFixed(2)));
    const report = await SUITES[name](ctx);
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
  const run: RunRecord = { quick: args.quick, when, durationMs: performance.now() - started, env, reports, skipped };

  const outDir = args.out ?? (args.only ? undefined : fileURLToPath(new URL("../../bench/", import.meta.url)));
  if (outDir === undefined) {
    log("(--only without --out: no files written)");
  } else {
    mkdirSync(outDir, { recursive: true });
    const suffix = args.quick ? ".quick" : "";
    const backoff = reports.find((r) => r.name === "backoff");
    let plotFile: string | undefined;
    const svg = backoff?.data?.svg;
    if (typeof svg === "string") {
      plotFile = `backoff-lateness${suffix}.svg`;
      writeFileSync(join(outDir, plotFile), svg);
      delete backoff!.data!.svg; // in the SVG file, not in results.json
    }
    writeFileSync(join(outDir, `RESULTS${suffix}.md`), resultsMarkdown(run, plotFile));
    writeFileSync(join(outDir, `results${suffix}.json`), resultsJson(run));
    log(`wrote ${resolve(outDir, `RESULTS${suffix}.md`)}, results${suffix}.json${plotFile ? `, ${plotFile}` : ""}`);
  }
  const targets = reports.flatMap((r) => r.targets);
  const missed = targets.filter((t) => !t.met);
  log(`${targets.length - missed.length}/${targets.length} targets met${missed.length ? `; missed: ${missed.map((t) => t.name).join(", ")}` : ""} (${(run.durationMs / 1000).toFixed(0)} s)`);
  // Missed targets are findings, not failures: the exit status says only whether the suites ran.
  return 0;
}

process.exitCode = await main();
