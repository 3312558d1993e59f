import { describe, expect, it } from "vitest";
import { backoffPlot, DESIGN_ROWS, notMeasured } from "../bench/compare.js";
import { cdfSketch } from "../bench/plot.js";
import { figureRow, resultsJson, resultsMarkdown, targetRow, type BenchRun, type Environment, type RunRecord, type SuiteReport } from "../bench/results.js";
import type { RuntimeName } from "../bench/runtime.js";

// How the runner merges the runtimes' reports: rows by name, nothing dropped.
// Built from hand-made reports, so it needs no runtime but the one running vitest.

function env(runtime: string): Environment {
  return { runtime, engine: "test", gc: "gc: test", os: "test", cpus: 2, cpuModel: "test", packages: {}, loadAverageAtStart: [1, 1, 1] };
}

function lateness(offset: number): Float64Array {
  return Float64Array.from({ length: 1000 }, (_, i) => offset + i / 1000);
}

function backoff(p99: number, setTimeoutOffset: number): SuiteReport {
  return {
    name: "backoff",
    markdown: "backoff figures",
    targets: [targetRow("backoff.early_count", 0, 0, "lower", "keys"), targetRow("backoff.p99_ms", p99, 2, "lower", "ms")],
    figures: [figureRow("backoff.p50_ms", 0.01, "ms")],
    summary: [],
    loadAverage: [1.5, 1, 1],
    data: {
      keys: 1000,
      svg: "<svg>single</svg>",
      latenessCdf: [
        { label: "DelayScheduler, idle", note: "n", sketch: cdfSketch(lateness(0)) },
        { label: "setTimeout per key, idle", note: "n", sketch: cdfSketch(lateness(setTimeoutOffset)) },
      ],
    },
  };
}

function record(runtime: RuntimeName, reports: SuiteReport[], failed: RunRecord["failed"] = []): RunRecord {
  const version = runtime === "node" ? "node v20.0.0" : `${runtime} 1.0.0`;
  return { runtime, quick: true, when: "2026-12-06T00:00:00.000Z", durationMs: 1, env: env(version), suites: ["queue", "backoff", "e2e", "memory"], reports, skipped: [], failed, unsupported: runtime === "bun" ? [{ suite: "memory", reason: "no heap figures" }] : [] };
}

const run: BenchRun = {
  quick: true,
  when: "2026-12-06T00:00:00.000Z",
  durationMs: 1,
  runtimes: ["node", "bun", "deno"],
  runs: [
    record("node", [backoff(0.5, 0)]),
    record("bun", [backoff(7, 9), { name: "queue", markdown: "", targets: [], summary: [], unmeasured: [{ name: "queue.strings_vs_denque_set", reason: "no clock" }] }], [
      { suite: "e2e", error: "worker file not found" },
    ]),
  ],
  crashed: [{ runtime: "deno", error: "deno exited with status 1" }],
};

describe("bench runtime comparison", () => {
  it("lists every DESIGN row for every runtime, each missing one with why", () => {
    const bun = new Map(notMeasured(run, "bun").map((r) => [r.name, r.reason]));
    expect(bun.get("e2e.pool_vs_naive_piscina")).toBe("the e2e suite failed on bun: worker file not found");
    expect(bun.get("queue.strings_vs_denque_set")).toBe("bun cannot measure it: no clock");
    expect(bun.get("queue.handles_vs_bare_ring")).toBe("the queue suite does not report this row yet");
    expect(bun.get("fleet.tail_vs_ideal_worker")).toBe("no fleet suite in this build yet");
    expect(bun.get("memory.bytes_per_queued_key")).toBe("bun cannot run the memory suite: no heap figures");
    expect(bun.has("backoff.p99_ms")).toBe(false);
    const deno = notMeasured(run, "deno");
    expect(deno.map((r) => r.name)).toEqual(DESIGN_ROWS.map((r) => r.name));
    expect(new Set(deno.map((r) => r.reason))).toEqual(new Set(["deno did not run: deno exited with status 1"]));
  });

  it("writes the comparison table and names a target another runtime misses where node meets it, with the figures", () => {
    const markdown = resultsMarkdown(run, undefined);
    const comparison = markdown.slice(markdown.indexOf("## Runtime comparison"));
    expect(comparison).toMatch(/^\| row \| target \| node v20\.0\.0 \| bun 1\.0\.0 \| deno \|$/m);
    expect(comparison).toMatch(/^\| `backoff\.p99_ms`<br>[^|]+\| <= 2 ms \| 0\.5 ms \| 7 ms \*\*missed\*\* \| not measured \[\d+\] \|$/m);
    for (const row of DESIGN_ROWS) expect(comparison).toContain(`\`${row.name}\``);
    // The miss, with both figures and the runtime's own setTimeout lateness from the same run.
    expect(comparison).toMatch(/`backoff\.p99_ms` on bun 1\.0\.0: \*\*7 ms\*\* \(node v20\.0\.0: 0\.5 ms; target <= 2 ms\)\. .*setTimeout` per key on bun 1\.0\.0 in the same run, idle loop: p99 9\.989 ms/);
    expect(markdown).toContain("**deno did not run:** deno exited with status 1");
    expect(markdown).toMatch(/^## backoff \(bun 1\.0\.0\)$/m);
  });

  it("keeps node's targets as the reference in results.json and adds every runtime's rows", () => {
    const json = JSON.parse(resultsJson(run)) as { runtime: string; targets: { name: string; value: number }[]; runtimes: Record<string, { name: string; value: number }[]>; suites: Record<string, Record<string, unknown>> };
    expect(json.runtime).toBe("node v20.0.0");
    expect(json.targets.map((t) => [t.name, t.value])).toEqual([["backoff.early_count", 0], ["backoff.p99_ms", 0.5]]);
    expect(Object.keys(json.runtimes)).toEqual(["node", "bun", "deno"]);
    expect(json.runtimes.bun.map((t) => [t.name, t.value])).toEqual([["backoff.early_count", 0], ["backoff.p99_ms", 7]]);
    expect(json.runtimes.deno).toEqual([]);
    // The plot's inputs stay out of the JSON.
    expect(json.suites.backoff.svg).toBeUndefined();
    expect(json.suites.backoff.latenessCdf).toBeUndefined();
  });

  it("plots each runtime's lateness on one chart, and a single runtime's own plot as it is", () => {
    const svg = backoffPlot(run)!;
    expect(svg).toMatch(/^<svg /);
    expect(svg).toContain(">node v20.0.0: DelayScheduler, idle<");
    expect(svg).toContain(">bun 1.0.0: DelayScheduler, idle<");
    expect(svg).not.toContain("setTimeout per key");
    expect(backoffPlot({ ...run, runtimes: ["node"], runs: [run.runs[0]], crashed: [] })).toBe("<svg>single</svg>");
  });
});
