import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const RUN = fileURLToPath(new URL("../dist/bench/run.js", import.meta.url));

// Every DESIGN.md target, in the runner's suite order (nats-server is on PATH
// wherever the test suite runs: the global setup needs it too).
const TARGETS = [
  "queue.handles_vs_plain_denque",
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

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runBench(args: string[]): Promise<Exit> {
  if (!existsSync(RUN)) throw new Error(`${RUN} is missing: run \`npm run build\` first (npm test does)`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--expose-gc", RUN, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

// Runs the quick bench once so the suites cannot rot. Asserts that they run and
// report well-formed figures — nothing about how fast anything is.
describe("bench --quick", () => {
  const out = mkdtempSync(join(tmpdir(), "converge-bench-"));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it("runs every suite, exits 0 and writes results.quick.json with one well-formed row per target", { timeout: 240_000 }, async () => {
    const exit = await runBench(["--quick", "--out", out]);
    expect(exit.code, `exit status; stdout (end):\n${exit.stdout.slice(-2000)}\nstderr:\n${exit.stderr}`).toBe(0);
    expect(exit.stdout).toMatch(/^nats: [\d,]+ keys/m);

    const json = JSON.parse(readFileSync(join(out, "results.quick.json"), "utf8")) as {
      runtime: unknown;
      cpus: unknown;
      when: unknown;
      mode: unknown;
      targets: { name: unknown; value: unknown; target: unknown; better: unknown; unit: unknown; met: unknown }[];
    };
    expect(json.mode).toBe("quick");
    expect(json.runtime).toBe(`node ${process.version}`);
    expect(Number.isInteger(json.cpus) && (json.cpus as number) >= 1).toBe(true);
    expect(Number.isNaN(Date.parse(String(json.when)))).toBe(false);
    expect(json.targets.map((t) => t.name)).toEqual(TARGETS);
    for (const row of json.targets) {
      expect(typeof row.value === "number" && Number.isFinite(row.value), `${String(row.name)}.value`).toBe(true);
      expect(typeof row.target === "number" && Number.isFinite(row.target), `${String(row.name)}.target`).toBe(true);
      expect(["higher", "lower"]).toContain(row.better);
      expect(typeof row.unit === "string" && row.unit.length > 0).toBe(true);
      const met = row.better === "higher" ? (row.value as number) >= (row.target as number) : (row.value as number) <= (row.target as number);
      expect(row.met, `${String(row.name)}.met`).toBe(met);
    }

    const markdown = readFileSync(join(out, "RESULTS.quick.md"), "utf8");
    expect(markdown).toMatch(/QUICK run/);
    for (const name of TARGETS) expect(markdown).toContain(`\`${name}\``);
    expect(readFileSync(join(out, "backoff-lateness.quick.svg"), "utf8")).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    // A quick run never touches the full run's files.
    expect(existsSync(join(out, "RESULTS.md"))).toBe(false);
    expect(existsSync(join(out, "results.json"))).toBe(false);
  });

  it("refuses an unknown argument with exit status 2 and the usage", async () => {
    const exit = await runBench(["--quick", "--nope"]);
    expect(exit.code).toBe(2);
    expect(exit.stderr).toMatch(/unknown argument "--nope"/);
    expect(exit.stderr).toMatch(/Usage: /);
  });
});
