import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const RUN = fileURLToPath(new URL("../dist/bench/run.js", import.meta.url));

// DESIGN.md's "Performance targets": every row's name and figure.
const DESIGN: Record<string, number> = {
  "queue.handles_vs_bare_ring": 0.6,
  "queue.strings_vs_denque_set": 3,
  "backoff.early_count": 0,
  "backoff.p99_ms": 2,
  "backoff.max_ms": 5,
  "backoff.busy_early_count": 0,
  "backoff.busy_p99_ms": 4,
  "backoff.periodic_cpu_vs_settimeout": 1,
  "steady.cpu_percent_100k": 10,
  "fleet.tail_vs_ideal_worker": 0.8,
  "fleet.tail_vs_ideal_inline": 0.8,
  "fleet.uniform_vs_ideal_worker": 0.8,
  "fleet.uniform_vs_ideal_inline": 0.8,
  "e2e.pool_vs_naive_piscina": 3,
  "e2e.cpu_pool_vs_inline": 1.6,
  "nats.reconcile_vs_raw_kv_cas": 0.8,
  "scale.three_vs_one": 2.5,
  "memory.bytes_per_queued_key": 150,
};
// The rows this build's suites measure, in the runner's suite order (nats-server is on PATH
// wherever the test suite runs: the global setup needs it too). Others are "not measured".
const MEASURED = [
  "queue.handles_vs_bare_ring",
  "queue.strings_vs_denque_set",
  "backoff.early_count",
  "backoff.p99_ms",
  "backoff.max_ms",
  "backoff.busy_early_count",
  "backoff.busy_p99_ms",
  "backoff.periodic_cpu_vs_settimeout",
  "steady.cpu_percent_100k",
  "e2e.pool_vs_naive_piscina",
  "e2e.cpu_pool_vs_inline",
  "nats.reconcile_vs_raw_kv_cas",
  "memory.bytes_per_queued_key",
];
const RUNTIMES = ["node", "bun", "deno"] as const;

interface Row {
  name: unknown;
  value: unknown;
  target: unknown;
  better: unknown;
  unit: unknown;
  met: unknown;
}

function expectWellFormed(rows: Row[], where: string): void {
  const names = rows.map((t) => String(t.name));
  expect(names, where).toEqual(expect.arrayContaining(MEASURED));
  for (const row of rows) {
    const name = `${where} ${String(row.name)}`;
    expect(Object.keys(DESIGN), `${name} is one of DESIGN's rows`).toContain(row.name);
    expect(typeof row.value === "number" && Number.isFinite(row.value), `${name}.value`).toBe(true);
    expect(row.target, `${name}.target is DESIGN's`).toBe(DESIGN[row.name as string]);
    expect(["higher", "lower"]).toContain(row.better);
    expect(typeof row.unit === "string" && row.unit.length > 0).toBe(true);
    const met = row.better === "higher" ? (row.value as number) >= (row.target as number) : (row.value as number) <= (row.target as number);
    expect(row.met, `${name}.met`).toBe(met);
  }
}

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runBench(args: string[]): Promise<Exit> {
  if (!existsSync(RUN)) throw new Error(`${RUN} is missing: run \`npm run build\` first (npm test does)`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RUN, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

// Runs the quick bench once on each runtime so the suites cannot rot on any of them.
// Asserts that they run and report well-formed figures — nothing about how fast anything is.
describe("bench --quick --runtime all", () => {
  const out = mkdtempSync(join(tmpdir(), "converge-bench-"));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it("runs every suite on node, bun and deno, exits 0 and writes one well-formed row per target and runtime", { timeout: 300_000 }, async () => {
    const exit = await runBench(["--quick", "--runtime", "all", "--out", out]);
    expect(exit.code, `exit status; stdout (end):\n${exit.stdout.slice(-3000)}\nstderr:\n${exit.stderr.slice(-3000)}`).toBe(0);
    for (const runtime of RUNTIMES) expect(exit.stdout).toMatch(new RegExp(`^\\[${runtime}\\] nats: [\\d,]+ keys`, "m"));
    // Only the results, only in --out.
    expect(readdirSync(out).sort()).toEqual(["RESULTS.quick.md", "backoff-lateness.quick.svg", "results.quick.json"]);

    const json = JSON.parse(readFileSync(join(out, "results.quick.json"), "utf8")) as {
      runtime: unknown;
      cpus: unknown;
      when: unknown;
      mode: unknown;
      targets: Row[];
      runtimes: Record<string, Row[]>;
      notMeasured: Record<string, { name: string; reason: string }[]>;
      runtimeRuns: Record<string, { env: { runtime: string } }>;
    };
    expect(json.mode).toBe("quick");
    // Node is the reference: the top-level targets are its own.
    expect(json.runtime).toBe(`node ${process.version}`);
    expect(Number.isInteger(json.cpus) && (json.cpus as number) >= 1).toBe(true);
    expect(Number.isNaN(Date.parse(String(json.when)))).toBe(false);
    expectWellFormed(json.targets, "targets");
    expect(Object.keys(json.runtimes)).toEqual([...RUNTIMES]);
    for (const runtime of RUNTIMES) {
      expectWellFormed(json.runtimes[runtime], runtime);
      expect(json.runtimeRuns[runtime].env.runtime.startsWith(`${runtime} `), json.runtimeRuns[runtime].env.runtime).toBe(true);
      // No row dropped: each of DESIGN's is measured or listed as not measured, with why.
      const measured = json.runtimes[runtime].map((r) => r.name as string);
      const missing = json.notMeasured[runtime].map((r) => r.name);
      expect([...measured, ...missing].sort()).toEqual(expect.arrayContaining(Object.keys(DESIGN).sort()));
      expect(missing.filter((name) => measured.includes(name))).toEqual([]);
      for (const row of json.notMeasured[runtime]) expect(row.reason.length).toBeGreaterThan(0);
    }

    const markdown = readFileSync(join(out, "RESULTS.quick.md"), "utf8");
    expect(markdown).toMatch(/QUICK run/);
    const comparison = markdown.slice(markdown.indexOf("## Runtime comparison"));
    expect(comparison).toMatch(/^\| row \| target \| node v[\d.]+ \| bun [\d.]+ \| deno [\d.]+ \|$/m);
    for (const name of Object.keys(DESIGN)) expect(comparison).toContain(`\`${name}\``);
    for (const runtime of RUNTIMES) expect(markdown).toMatch(new RegExp(`^## queue \\(${runtime} `, "m"));
    const svg = readFileSync(join(out, "backoff-lateness.quick.svg"), "utf8");
    expect(svg).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    for (const runtime of RUNTIMES) expect(svg).toContain(`>${runtime} `);
  });

  it("refuses an unknown argument with exit status 2 and the usage", async () => {
    const exit = await runBench(["--quick", "--nope"]);
    expect(exit.code).toBe(2);
    expect(exit.stderr).toMatch(/unknown argument "--nope"/);
    expect(exit.stderr).toMatch(/Usage: /);
  });

  it("refuses an unknown runtime and a --reconciler it cannot use, naming the argument", async () => {
    const runtime = await runBench(["--quick", "--runtime", "node,rhino"]);
    expect(runtime.code).toBe(2);
    expect(runtime.stderr).toMatch(/--runtime: unknown runtime "rhino" \(runtimes: node, bun, deno, all\)/);
    const reconciler = await runBench(["--quick", "--only", "queue", "--reconciler", join(out, "none.js")]);
    expect(reconciler.code).toBe(2);
    expect(reconciler.stderr).toMatch(/^run: --reconciler /m);
  });
});
