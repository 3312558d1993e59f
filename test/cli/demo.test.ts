import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { CliIO } from "../../src/cli/cli-io.js";
import { runDemo } from "../../src/cli/demo.js";
import { FAIL_RATE_ENV } from "../../src/cli/demo-device-reconciler.js";
import { formatDemoSummary } from "../../src/cli/demo-summary.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const MAIN = fileURLToPath(new URL("../../dist/src/cli/main.js", import.meta.url));

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the built `converge` and waits for it to exit by itself (a leaked handle would hang it). */
function converge(args: string[]): Promise<Exit> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first (npm test does)`);
  const env = { ...process.env };
  delete env[FAIL_RATE_ENV];
  delete env.CONVERGE_LOG_LEVEL;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

function retriesOf(stdout: string): number {
  const match = /^\s*retries\s+(\d+)/m.exec(stdout);
  if (!match) throw new Error(`no retries line in:\n${stdout}`);
  return Number(match[1]);
}

/** Captures what the demo writes; `isTTY` picks the progress style. */
function capture(isTTY: boolean): CliIO & { out: () => string; err: () => string } {
  let out = "";
  let err = "";
  return {
    stdout: { isTTY, write: (chunk: string) => (out += chunk) },
    stderr: { write: (chunk: string) => (err += chunk) },
    out: () => out,
    err: () => err,
  };
}

// The --timeout given to each run only turns a hang into a failed run with a summary; no test asserts on speed.
describe("converge demo (child process)", () => {
  it("converges 2000 devices in worker threads despite a 20% fail rate, retrying, and exits 0 on its own", async () => {
    const run = await converge(["demo", "--devices", "2000", "--fail-rate", "0.2", "--timeout", "100"]);
    expect(run.signal, run.stderr).toBeNull();
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^\s*converged\s+2000\/2000 devices$/m);
    expect(run.stdout).toMatch(/^\s*changes\s+200\/200 /m);
    expect(run.stdout).toMatch(/^\s*isolation\s+worker, /m);
    expect(retriesOf(run.stdout)).toBeGreaterThan(0);
    // Not a TTY: progress is plain lines, never carriage returns.
    expect(run.stdout).not.toContain("\r");
    expect(run.stdout).not.toMatch(/did not converge/);
  }, 120_000);

  it("converges with --isolation inline", async () => {
    const run = await converge(["demo", "--devices", "300", "--fail-rate", "0.2", "--isolation", "inline", "--workers", "3", "--timeout", "100", "--quiet"]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^\s*converged\s+300\/300 devices$/m);
    expect(run.stdout).toMatch(/^\s*isolation\s+inline, 3 workers/m);
    expect(retriesOf(run.stdout)).toBeGreaterThan(0);
    // --quiet: the summary is the first thing written.
    expect(run.stdout.startsWith("converge demo summary\n")).toBe(true);
  }, 120_000);

  it("exits 1 and says how many devices did not converge when the timeout passes first", async () => {
    // Every attempt fails: nothing can converge, so the (short) timeout always ends the run.
    const run = await converge(["demo", "--devices", "20", "--fail-rate", "1", "--timeout", "0.2", "--quiet"]);
    expect(run.signal).toBeNull();
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^\s*converged\s+0\/20 devices$/m);
    expect(run.stdout).toMatch(/^20 of 20 devices did not converge within the 0\.2 s timeout$/m);
  }, 60_000);

  it.each([
    [["--devices", "-3"], "--devices", /positive integer.*got -3/],
    [["--fail-rate", "2"], "--fail-rate", /between 0 and 1, got 2/],
    [["--isolation", "thread"], "--isolation", /"worker" or "inline", got "thread"/],
    [["--bogus"], "--bogus", /unknown flag/],
  ])("rejects %j with exit 2 and names %s on stderr", async (flags, flag, what) => {
    const run = await converge(["demo", ...flags]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toContain(`${flag}:`);
    expect(run.stderr).toMatch(what);
  });

  it("rejects an unknown command with exit 2", async () => {
    const run = await converge(["frobnicate"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/unknown command "frobnicate"/);
  });

  it("prints help and exits 0", async () => {
    const run = await converge(["demo", "--help"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/--fail-rate P/);
  });
});

describe("runDemo (in process)", () => {
  it("returns a summary with numeric latency percentiles, p50 <= p99 <= max, and restores the environment", async () => {
    expect(process.env[FAIL_RATE_ENV]).toBeUndefined();
    const io = capture(false);
    const summary = await runDemo({ devices: 60, failRate: 0.2, changes: 0.5, workers: 2, timeoutMs: 60_000, quiet: true }, io);
    expect(summary.outcome).toBe("converged");
    expect(summary.converged).toBe(60);
    expect(summary.notConverged).toBe(0);
    expect(summary.changesPlanned).toBe(30);
    expect(summary.changesMade).toBe(30);
    // One sample per desired state reached: the first one, then the flipped one.
    expect(summary.latencyMs.samples).toBe(90);
    for (const value of [summary.latencyMs.p50, summary.latencyMs.p99, summary.latencyMs.max]) {
      expect(typeof value).toBe("number");
      expect(Number.isFinite(value)).toBe(true);
      expect(value).toBeGreaterThanOrEqual(0);
    }
    expect(summary.latencyMs.p50).toBeLessThanOrEqual(summary.latencyMs.p99);
    expect(summary.latencyMs.p99).toBeLessThanOrEqual(summary.latencyMs.max);
    expect(summary.reconciles).toBeGreaterThanOrEqual(90);
    expect(summary.statusWrites).toBe(90);
    expect(summary.retries).toBe(summary.failed + summary.timeouts + summary.crashes);
    expect(summary.isolation).toBe("worker");
    expect(io.out()).toBe("");
    expect(process.env[FAIL_RATE_ENV]).toBeUndefined();
    expect(formatDemoSummary(summary)).toMatch(/^\s*converged\s+60\/60 devices$/m);
  });

  it("draws a single-line progress bar with carriage returns on a TTY, ending in its final state and a newline", async () => {
    const io = capture(true);
    const summary = await runDemo({ devices: 40, failRate: 0, changes: 0, isolation: "inline", workers: 2, timeoutMs: 60_000 }, io);
    expect(summary.converged).toBe(40);
    const out = io.out();
    expect(out.startsWith("\r[")).toBe(true);
    expect(out).not.toMatch(/\n./);
    expect(out).toMatch(/\r\[#+\] 40\/40 converged \| \d+ reconciles\/s \| 0 retries \| \d+\.\d s\x1b\[K\n$/);
  });

  it("ends early when its signal aborts, reporting the run as interrupted", async () => {
    const abort = new AbortController();
    abort.abort();
    const summary = await runDemo({ devices: 10, failRate: 1, isolation: "inline", quiet: true, signal: abort.signal }, capture(false));
    expect(summary.outcome).toBe("interrupted");
    expect(summary.notConverged).toBe(10);
  });

  it("rejects bad options naming the option", async () => {
    await expect(runDemo({ devices: 0 }, capture(false))).rejects.toThrow(/options\.devices: must be a positive integer/);
    await expect(runDemo({ failRate: -0.1 }, capture(false))).rejects.toThrow(/options\.failRate: must be a probability between 0 and 1, got -0\.1/);
  });
});
