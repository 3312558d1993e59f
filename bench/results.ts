import { readFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, platform, arch, release } from "node:os";
import { join } from "node:path";
import { comparisonMarkdown, rowsOf, notMeasured, referenceRun } from "./compare.js";
import { table } from "./format.js";
import { engineVersion, gcDescription, repoRoot, runtimeVersion, type RuntimeName } from "./runtime.js";

export { backoffPlot } from "./compare.js";

/** One performance target of DESIGN.md, checked mechanically. */
export interface TargetRow {
  /** Exactly as DESIGN.md names it, e.g. `queue.handles_vs_bare_ring`. */
  name: string;
  value: number;
  target: number;
  better: "higher" | "lower";
  unit: string;
  met: boolean;
}

/** A headline figure that is not a target (e.g. `backoff.p50_ms`), shown beside the targets when runtimes are compared. */
export interface FigureRow {
  name: string;
  value: number;
  unit: string;
}

/** What a suite hands back to the runner. */
export interface SuiteReport {
  /** `queue`, `backoff`, … */
  name: string;
  /** Markdown (tables and notes) for RESULTS.md, under a `## <name>` heading. */
  markdown: string;
  targets: TargetRow[];
  figures?: FigureRow[];
  /** Rows this runtime cannot measure, and why: RESULTS.md lists them instead of dropping them. */
  unmeasured?: { name: string; reason: string }[];
  /** Short lines printed when the suite ends. */
  summary: string[];
  /** Extra machine-readable figures for results.json (tables' numbers). */
  data?: Record<string, unknown>;
  /** Set by the runner: the 1/5/15-minute load averages when the suite started and how long it took. */
  loadAverage?: number[];
  durationMs?: number;
}

export interface SuiteContext {
  quick: boolean;
  log(line: string): void;
  /** The runtime running the suite (each runtime runs in its own process). */
  runtime: RuntimeName;
  /**
   * `--reconciler FILE`: a user's reconciler module (default export, as
   * `controller.registerReconciler` takes) for the fleet suite to run instead of its own.
   */
  reconciler?: URL;
}

export type Suite = (ctx: SuiteContext) => Promise<SuiteReport>;

/** A target row; `met` is computed here so no suite can decide it by hand. */
export function targetRow(name: string, value: number, target: number, better: "higher" | "lower", unit: string): TargetRow {
  // Judged on the figure as reported, so anyone re-checking results.json gets the same answer.
  const shown = round(value);
  const met = Number.isFinite(shown) && (better === "higher" ? shown >= target : shown <= target);
  return { name, value: shown, target, better, unit, met };
}

export function figureRow(name: string, value: number, unit: string): FigureRow {
  return { name, value: round(value), unit };
}

function round(v: number): number {
  if (!Number.isFinite(v) || Number.isInteger(v)) return v;
  return Number(v.toPrecision(4));
}

export interface Environment {
  runtime: string;
  engine: string;
  /** How garbage is collected between timed runs (each runtime has its own way, or none). */
  gc: string;
  os: string;
  cpus: number;
  cpuModel: string;
  packages: Record<string, string>;
  loadAverageAtStart: number[];
}

const PACKAGES = ["tinybench", "denque", "fastq", "p-queue", "piscina"];

export function environment(): Environment {
  const root = repoRoot();
  const packages: Record<string, string> = { converge: versionOf(join(root, "package.json")) };
  for (const name of PACKAGES) packages[name] = versionOf(join(root, "node_modules", name, "package.json"));
  return {
    runtime: runtimeVersion(),
    engine: engineVersion(),
    gc: gcDescription(),
    os: `${platform()} ${release()} ${arch()}`,
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? "unknown",
    packages,
    loadAverageAtStart: loadavg().map((x) => Number(x.toFixed(2))),
  };
}

function versionOf(file: string): string {
  try {
    return (JSON.parse(readFileSync(file, "utf8")) as { version?: string }).version ?? "?";
  } catch {
    return "?";
  }
}

/** One runtime's run of the suites (written by its child process). */
export interface RunRecord {
  runtime: RuntimeName;
  quick: boolean;
  when: string;
  durationMs: number;
  env: Environment;
  reports: SuiteReport[];
  /** Every suite this build has (whether or not --only selected it). */
  suites: string[];
  skipped: string[];
  /** Suites that threw: their rows are reported as not measured, with this error. */
  failed: { suite: string; error: string }[];
  /** Suites that threw UnsupportedOnRuntimeError: this runtime cannot make their measurement (not a failure). */
  unsupported: { suite: string; reason: string }[];
}

/** The whole run: every runtime asked for, in order. */
export interface BenchRun {
  quick: boolean;
  when: string;
  durationMs: number;
  runtimes: RuntimeName[];
  runs: RunRecord[];
  /** Runtimes whose process ended without a report. */
  crashed: { runtime: RuntimeName; error: string }[];
}

function suitesData(run: RunRecord): Record<string, unknown> {
  return Object.fromEntries(
    run.reports.map((r) => {
      const { svg: _svg, latenessCdf: _cdf, ...data } = r.data ?? {}; // in the SVG file, not in results.json
      return [r.name, { loadAverage: r.loadAverage, durationMs: r.durationMs && Math.round(r.durationMs), ...data }];
    }),
  );
}

/**
 * results.json: the DESIGN.md shape for the reference runtime (Node when it ran), its
 * suites' figures under `suites`, and every runtime's target rows under `runtimes`.
 */
export function resultsJson(run: BenchRun): string {
  const ref = referenceRun(run);
  const perRuntime = <T>(f: (r: RunRecord | undefined, name: RuntimeName) => T) =>
    Object.fromEntries(run.runtimes.map((name) => [name, f(run.runs.find((r) => r.runtime === name), name)]));
  const doc = {
    runtime: ref?.env.runtime,
    cpus: ref?.env.cpus ?? availableParallelism(),
    when: run.when,
    mode: run.quick ? "quick" : "full",
    durationMs: Math.round(run.durationMs),
    env: ref?.env,
    targets: ref ? rowsOf(ref).targets : [],
    skipped: ref?.skipped ?? [],
    suites: ref ? suitesData(ref) : {},
    runtimes: perRuntime((r) => (r ? rowsOf(r).targets : [])),
    figures: perRuntime((r) => (r ? rowsOf(r).figures : [])),
    notMeasured: perRuntime((_, name) => notMeasured(run, name)),
    runtimeRuns: perRuntime((r, name) =>
      r ? { env: r.env, durationMs: Math.round(r.durationMs), skipped: r.skipped, failed: r.failed, unsupported: r.unsupported, suites: r === ref ? "(above)" : suitesData(r) } : { crashed: run.crashed.find((c) => c.runtime === name)?.error },
    ),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

export function resultsMarkdown(run: BenchRun, plotFile: string | undefined): string {
  const ref = referenceRun(run);
  const several = run.runtimes.length > 1;
  const out: string[] = [];
  const command = `npm run bench${run.quick || several ? " --" : ""}${run.quick ? " --quick" : ""}${several ? ` --runtime ${run.runtimes.length === 3 ? "all" : run.runtimes.join(",")}` : ""}`;
  out.push(`# converge benchmarks${run.quick ? " (QUICK run: small sizes, not the reference figures)" : ""}`);
  out.push("");
  const envs = run.runs.map((r) => `**${r.env.runtime}** (${r.env.engine}; ${r.env.gc})`).join(", ");
  const env = ref?.env;
  out.push(
    `Generated by \`${command}\` on ${run.when} in ${(run.durationMs / 1000).toFixed(0)} s. ` +
      `Runtime${run.runs.length > 1 ? "s" : ""} ${envs || "(none ran)"}` +
      (env
        ? `, ${env.os}, **${env.cpus} CPUs** (${env.cpuModel}), load average at start ${env.loadAverageAtStart.join(" / ")}. ` +
          `Packages: ${Object.entries(env.packages).map(([k, v]) => `${k} ${v}`).join(", ")}.`
        : "."),
  );
  out.push("");
  out.push(
    "Every target is a ratio against a baseline measured in the same run on the same runtime, or an absolute bound on lateness/bytes. " +
      "The machine is shared and has 2 cores, so figures are noisy; rates are medians over iterations." +
      (several ? " Each runtime ran the same suites from the same sources in its own process, one runtime after the other: Node from `dist/`, Bun and Deno from `bench/*.ts`." : ""),
  );
  if (run.quick) {
    out.push("");
    out.push("**This is a quick run** (`--quick`): sizes and iteration counts are reduced so it finishes in seconds per suite. Its figures only show the suites still run; see RESULTS.md for the full run.");
  }
  for (const c of run.crashed) out.push(`\n**${c.runtime} did not run:** ${c.error}`);
  if (ref) {
    const targets = rowsOf(ref).targets;
    const missed = targets.filter((t) => !t.met);
    out.push("");
    out.push(several ? `## Targets (${ref.env.runtime}, the reference)` : "## Targets");
    out.push("");
    out.push(
      table(
        ["target", "measured", "target", "met"],
        targets.map((t) => [`\`${t.name}\``, `${t.value} ${t.unit}`, `${t.better === "higher" ? ">=" : "<="} ${t.target} ${t.unit}`, t.met ? "yes" : "**MISSED**"]),
        ["l", "r", "r", "l"],
      ),
    );
    out.push("");
    if (missed.length > 0) {
      out.push(`**Missed (${missed.length}):** ${missed.map((t) => `\`${t.name}\` measured ${t.value} ${t.unit} (target ${t.better === "higher" ? ">=" : "<="} ${t.target})`).join("; ")}. The suite sections below hold the figures behind each.`);
    } else {
      out.push("Every target listed was met in this run.");
    }
    for (const name of ref.skipped) out.push(`\nNot run: ${name}.`);
    for (const f of ref.failed) out.push(`\n**Failed: ${f.suite}** (${f.error}).`);
    for (const u of ref.unsupported) out.push(`\nNot measurable on ${ref.env.runtime}: ${u.suite} (${u.reason}).`);
  }
  if (several) {
    out.push("");
    out.push(comparisonMarkdown(run));
  }
  if (plotFile) {
    out.push("");
    out.push(`![backoff lateness: DelayScheduler vs one setTimeout per key${several ? ", per runtime" : ""}](${plotFile})`);
  }
  for (const record of ref ? [ref, ...run.runs.filter((r) => r !== ref)] : run.runs) {
    for (const report of record.reports) {
      out.push("");
      out.push(several ? `## ${report.name} (${record.env.runtime})` : `## ${report.name}`);
      out.push("");
      if (report.loadAverage) {
        out.push(`_Load average when this suite started: ${report.loadAverage.join(" / ")} on ${record.env.cpus} CPUs; it ran ${((report.durationMs ?? 0) / 1000).toFixed(0)} s._`);
        out.push("");
      }
      out.push(report.markdown.trim());
    }
  }
  // The soak run (npm run soak) is too long for the bench; its last figures are carried over.
  const soak = soakSection();
  if (soak && !run.quick) {
    out.push("");
    out.push(soak);
  }
  out.push("");
  return out.join("\n");
}

/** bench/SOAK.md as a section of RESULTS.md, or undefined when no soak has run. */
function soakSection(): string | undefined {
  try {
    const text = readFileSync(join(repoRoot(), "bench/SOAK.md"), "utf8").trim();
    return `## soak (\`npm run soak\`, last run)\n\n${text.replace(/^# .*\n+/, "")}`;
  } catch {
    return undefined;
  }
}
