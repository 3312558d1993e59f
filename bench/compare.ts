// The runtimes side by side: DESIGN.md's rows (by name) per runtime for RESULTS.md
// and results.json, and the backoff plot over every runtime's lateness.
import { table } from "./format.js";
import { cdfPlotSvg, sketchQuantile, type CdfSeries, type CdfSketch } from "./plot.js";
import type { BenchRun, FigureRow, RunRecord, TargetRow } from "./results.js";
import type { RuntimeName } from "./runtime.js";

interface DesignRow {
  name: string;
  /** What it measures, for the comparison table. */
  label: string;
  /** DESIGN.md's target; none for a headline figure that is not a target. */
  target?: { value: number; better: "higher" | "lower" };
  unit: string;
}

const at = (better: "higher" | "lower", value: number) => ({ value, better });

/**
 * DESIGN.md's "Performance targets", in its order, with the headline figures that are
 * not targets beside them. A row a suite does not report yet (its suite is still to
 * come, or this runtime cannot measure it) is listed as not measured, never dropped.
 */
export const DESIGN_ROWS: readonly DesignRow[] = [
  { name: "queue.handles_vs_bare_ring", label: "queue by handle vs a bare typed-array ring", target: at("higher", 0.6), unit: "x" },
  { name: "queue.strings_vs_denque_set", label: "queue by string key vs denque + Set", target: at("higher", 3), unit: "x" },
  { name: "backoff.early_count", label: "backoff, idle loop: keys fired early", target: at("lower", 0), unit: "keys" },
  { name: "backoff.p50_ms", label: "backoff, idle loop: lateness p50", unit: "ms" },
  { name: "backoff.p99_ms", label: "backoff, idle loop: lateness p99", target: at("lower", 2), unit: "ms" },
  { name: "backoff.max_ms", label: "backoff, idle loop: lateness max", target: at("lower", 5), unit: "ms" },
  { name: "backoff.busy_early_count", label: "backoff, busy loop: keys fired early", target: at("lower", 0), unit: "keys" },
  { name: "backoff.busy_p99_ms", label: "backoff, busy loop: lateness p99", target: at("lower", 4), unit: "ms" },
  { name: "backoff.periodic_cpu_vs_settimeout", label: "periodic timers: CPU vs one setTimeout per key", target: at("lower", 1), unit: "x" },
  { name: "steady.cpu_percent_100k", label: "steady: 100k converged devices, CPU", target: at("lower", 10), unit: "%" },
  { name: "fleet.tail_vs_ideal_worker", label: "fleet, 1% slow tail, worker: ideal / converge time", target: at("higher", 0.8), unit: "x" },
  { name: "fleet.tail_vs_ideal_inline", label: "fleet, 1% slow tail, inline", target: at("higher", 0.8), unit: "x" },
  { name: "fleet.uniform_vs_ideal_worker", label: "fleet, uniform 100 ms, worker", target: at("higher", 0.8), unit: "x" },
  { name: "fleet.uniform_vs_ideal_inline", label: "fleet, uniform 100 ms, inline", target: at("higher", 0.8), unit: "x" },
  { name: "e2e.pool_vs_naive_piscina", label: "first pass, worker pool vs one Piscina task per key", target: at("higher", 3), unit: "x" },
  { name: "e2e.inline_vs_naive_piscina", label: "first pass, inline vs one Piscina task per key", unit: "x" },
  { name: "e2e.cpu_pool_vs_inline", label: "CPU-heavy reconciler, worker pool vs inline", target: at("higher", 1.6), unit: "x" },
  { name: "nats.reconcile_vs_raw_kv_cas", label: "reconcile + status CAS vs raw KV CAS", target: at("higher", 0.8), unit: "x" },
  { name: "scale.three_vs_one", label: "3 controller processes vs 1", target: at("higher", 2.5), unit: "x" },
  { name: "memory.bytes_per_queued_key", label: "memory per queued key", target: at("lower", 150), unit: "bytes" },
];


/** Node when it ran: DESIGN's targets are Node's; else the first runtime that ran. */
export function referenceRun(run: BenchRun): RunRecord | undefined {
  return run.runs.find((r) => r.runtime === "node") ?? run.runs[0];
}

export function rowsOf(record: RunRecord): { targets: TargetRow[]; figures: FigureRow[] } {
  return { targets: record.reports.flatMap((r) => r.targets), figures: record.reports.flatMap((r) => r.figures ?? []) };
}

type Measured = (TargetRow | FigureRow) & { met?: boolean };

function measured(record: RunRecord | undefined, name: string): Measured | undefined {
  if (record === undefined) return undefined;
  const { targets, figures } = rowsOf(record);
  return targets.find((t) => t.name === name) ?? figures.find((f) => f.name === name);
}

/** Every row name to show: DESIGN's, then any other row some runtime reported. */
function rowNames(run: BenchRun): string[] {
  const names = DESIGN_ROWS.map((r) => r.name);
  for (const record of run.runs) {
    const { targets, figures } = rowsOf(record);
    for (const row of [...targets, ...figures]) if (!names.includes(row.name)) names.push(row.name);
  }
  return names;
}

/** Why `runtime` has no figure for `name`. */
function reasonFor(run: BenchRun, runtime: RuntimeName, name: string): string {
  const record = run.runs.find((r) => r.runtime === runtime);
  if (record === undefined) return `${runtime} did not run: ${run.crashed.find((c) => c.runtime === runtime)?.error ?? "no report"}`;
  const suite = name.slice(0, name.indexOf("."));
  const unmeasured = record.reports.flatMap((r) => r.unmeasured ?? []).find((u) => u.name === name);
  if (unmeasured) return `${runtime} cannot measure it: ${unmeasured.reason}`;
  const unsupported = record.unsupported.find((u) => u.suite === suite);
  if (unsupported) return `${runtime} cannot run the ${suite} suite: ${unsupported.reason}`;
  const failed = record.failed.find((f) => f.suite === suite);
  if (failed) return `the ${suite} suite failed on ${runtime}: ${failed.error}`;
  const skipped = record.skipped.find((s) => s.startsWith(`${suite} `));
  if (skipped) return `not run on ${runtime}: ${skipped}`;
  if (record.reports.some((r) => r.name === suite)) return `the ${suite} suite does not report this row yet`;
  if (!record.suites.includes(suite)) return `no ${suite} suite in this build yet`;
  return `the ${suite} suite was not selected (--only)`;
}

/** The rows `runtime` has no figure for, with the reason: results.json's `notMeasured`. */
export function notMeasured(run: BenchRun, runtime: RuntimeName): { name: string; reason: string }[] {
  const record = run.runs.find((r) => r.runtime === runtime);
  return rowNames(run)
    .filter((name) => measured(record, name) === undefined)
    .map((name) => ({ name, reason: reasonFor(run, runtime, name) }));
}

function targetText(t: { value: number; better: "higher" | "lower" } | undefined, unit: string): string {
  return t === undefined ? "—" : `${t.better === "higher" ? ">=" : "<="} ${t.value} ${unit}`;
}

/** RESULTS.md's "Runtime comparison": one column per runtime, then misses and rows not measured. */
export function comparisonMarkdown(run: BenchRun): string {
  const ref = referenceRun(run);
  const notes: string[] = [];
  const note = (text: string): string => {
    let i = notes.indexOf(text);
    if (i === -1) i = notes.push(text) - 1;
    return `[${i + 1}]`;
  };
  const rows = rowNames(run).map((name) => {
    const design = DESIGN_ROWS.find((r) => r.name === name);
    const sample = run.runs.map((r) => measured(r, name)).find((m) => m !== undefined);
    const unit = design?.unit ?? sample?.unit ?? "";
    const target = design?.target ?? (sample && "target" in sample ? { value: sample.target, better: sample.better } : undefined);
    const cells = run.runtimes.map((runtime) => {
      const m = measured(run.runs.find((r) => r.runtime === runtime), name);
      if (m === undefined) return `not measured ${note(reasonFor(run, runtime, name))}`;
      return `${m.value} ${m.unit}${m.met === false ? " **missed**" : ""}`;
    });
    return [`\`${name}\`<br>${design?.label ?? ""}`, targetText(target, unit), ...cells];
  });
  const out: string[] = [];
  out.push("## Runtime comparison");
  out.push("");
  out.push(
    "DESIGN.md's rows, one column per runtime. Every ratio is against its baseline measured on the same runtime in the same run " +
      "(the queue against a bare ring and denque + Set running on that runtime, the backoff against that runtime's own clock, and so on); " +
      `the targets were set on Node${ref?.runtime === "node" ? ` (${ref.env.runtime} here)` : ""}.`,
  );
  out.push("");
  out.push(table(["row", "target", ...run.runtimes.map((rt) => run.runs.find((r) => r.runtime === rt)?.env.runtime ?? rt)], rows, ["l", "r", ...run.runtimes.map(() => "r" as const)]));
  if (notes.length > 0) {
    out.push("");
    out.push("Not measured:");
    out.push("");
    for (const [i, text] of notes.entries()) out.push(`${i + 1}. ${text}`);
  }
  const misses = runtimeMisses(run);
  out.push("");
  if (ref === undefined || misses.length === 0) {
    out.push(`No runtime missed a target that ${ref?.env.runtime ?? "the reference"} met in this run.`);
  } else {
    out.push(`Targets ${ref.env.runtime} met and another runtime missed in this run:`);
    out.push("");
    out.push(...misses);
  }
  return out.join("\n");
}

function runtimeMisses(run: BenchRun): string[] {
  const ref = referenceRun(run);
  if (ref === undefined) return [];
  const lines: string[] = [];
  for (const row of rowsOf(ref).targets.filter((t) => t.met)) {
    for (const record of run.runs.filter((r) => r !== ref)) {
      const m = measured(record, row.name);
      if (m?.met !== false) continue;
      lines.push(
        `- \`${row.name}\` on ${record.env.runtime}: **${m.value} ${m.unit}** (${ref.env.runtime}: ${row.value} ${row.unit}; target ${targetText({ value: row.target, better: row.better }, row.unit)}). ` +
          evidence(ref, record, row.name),
      );
    }
  }
  return lines;
}

/**
 * What the run itself says about a miss: the machine's load when each runtime's suite
 * started (they run one after the other), and for timer lateness the runtime's own
 * `setTimeout` in the same run (late too: the runtime's timers and event loop; not: the scheduler).
 */
function evidence(ref: RunRecord, record: RunRecord, name: string): string {
  const suite = name.slice(0, name.indexOf("."));
  const load = (r: RunRecord) => r.reports.find((x) => x.name === suite)?.loadAverage?.[0];
  const parts = [`Load average when the suite started: ${load(record) ?? "?"} (${ref.runtime}: ${load(ref) ?? "?"}) on ${record.env.cpus} CPUs.`];
  const lateness = /^backoff\.(busy_)?(p99|max)_ms$/.exec(name);
  if (lateness) {
    const loop = lateness[1] ? "busy" : "idle";
    const baseline = latenessOf(record, `setTimeout per key, ${loop}`);
    if (baseline) {
      const level = lateness[2] === "p99" ? 0.99 : 1;
      parts.push(`One \`setTimeout\` per key on ${record.env.runtime} in the same run, ${loop} loop: ${lateness[2]} ${sketchQuantile(baseline, level)} ms.`);
    }
  }
  return parts.join(" ");
}

function latenessOf(record: RunRecord, label: string): CdfSketch | undefined {
  const series = (record.reports.find((r) => r.name === "backoff")?.data?.latenessCdf ?? []) as LatenessSeries[];
  return series.find((s) => s.label.startsWith(label))?.sketch;
}

/** What the backoff suite hands over for the plot: each lateness series as a sketch. */
export interface LatenessSeries {
  label: string;
  note: string;
  sketch: CdfSketch;
}

const RUNTIME_COLORS: Record<RuntimeName, string> = { node: "#1f6feb", bun: "#d9480f", deno: "#2f9e44" };

/**
 * The backoff SVG: with one runtime, the suite's own plot; with several, the DelayScheduler's
 * lateness (idle and busy loop) of each runtime on one chart.
 */
export function backoffPlot(run: BenchRun): string | undefined {
  const withBackoff = run.runs.flatMap((record) => {
    const report = record.reports.find((r) => r.name === "backoff");
    return report ? [{ record, data: report.data ?? {} }] : [];
  });
  if (withBackoff.length === 0) return undefined;
  if (withBackoff.length === 1 && run.runtimes.length === 1) return typeof withBackoff[0].data.svg === "string" ? withBackoff[0].data.svg : undefined;
  const series: CdfSeries[] = [];
  for (const { record, data } of withBackoff) {
    const lateness = (data.latenessCdf ?? []) as LatenessSeries[];
    for (const s of lateness.filter((l) => l.label.startsWith("DelayScheduler"))) {
      series.push({ label: `${record.env.runtime}: ${s.label}`, color: RUNTIME_COLORS[record.runtime], dashed: s.label.includes("busy"), values: s.sketch, note: s.note });
    }
  }
  if (series.length === 0) return undefined;
  const p99 = Math.max(...series.map((s) => sketchQuantile(s.values as CdfSketch, 0.99)));
  const xMax = Math.max(8, Math.min(50, Math.ceil(p99 * 1.1)));
  const keys = withBackoff[0].data.keys;
  return cdfPlotSvg(series, {
    title: `Backoff lateness per runtime: DelayScheduler, ${typeof keys === "number" ? keys.toLocaleString("en-US") : "?"} keys${run.quick ? " (quick run)" : ""}`,
    subtitle: `solid: idle loop, dashed: loop busy in 2 ms chunks; tails past ${xMax} ms clipped (see legend)`,
    xMin: -3,
    xMax,
    xLabel: "lateness: fire time minus due time (ms)",
  });
}
