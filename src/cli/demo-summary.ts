import type { Isolation } from "../reconcile/controller.js";
import type { LatencySummary } from "./latency-recorder.js";
import { convergenceChart } from "./terminal-chart.js";

/** How a demo run ended. */
export type DemoOutcome = "converged" | "timeout" | "interrupted" | "error";

/** What `runDemo` returns and `converge demo` prints. */
export interface DemoSummary {
  outcome: DemoOutcome;
  devices: number;
  /** Devices whose status reached their latest desired state. */
  converged: number;
  notConverged: number;
  changesPlanned: number;
  changesMade: number;
  reconciles: number;
  reconcilesPerSecond: number;
  /** Reconciles retried with backoff: failed + timeouts + crashes. */
  retries: number;
  failed: number;
  timeouts: number;
  crashes: number;
  statusWrites: number;
  /** From each desired state being set to the device's status reaching it. */
  latencyMs: LatencySummary;
  /** From the first device created to the last one converged (or the run's end). */
  elapsedMs: number;
  isolation: Isolation;
  /** Where the fleet lived: "in-memory" or the NATS servers (without credentials). */
  backend: string;
  workers: number;
  failRate: number;
  /** Warnings counted but not printed. */
  suppressedWarnings: number;
  /** Converged devices sampled every `convergenceIntervalMs` from the start, for the chart. */
  convergence: number[];
  convergenceIntervalMs: number;
}

/** True when every device converged and every planned change was made. */
export function demoSucceeded(summary: DemoSummary): boolean {
  return summary.notConverged === 0 && summary.changesMade === summary.changesPlanned;
}

/** The closing summary, plain text, one fact per line. */
export function formatDemoSummary(s: DemoSummary, timeoutMs?: number): string {
  const ms = (x: number) => `${x.toFixed(1)} ms`;
  const lines = [
    "converge demo summary",
    `  converged       ${s.converged}/${s.devices} devices`,
    `  changes         ${s.changesMade}/${s.changesPlanned} desired states flipped after converging`,
    `  reconciles      ${s.reconciles} in ${(s.elapsedMs / 1_000).toFixed(2)} s (${Math.round(s.reconcilesPerSecond)}/s)`,
    `  retries         ${s.retries} (${s.failed} failed, ${s.timeouts} timed out, ${s.crashes} crashed)`,
    `  status writes   ${s.statusWrites}`,
    s.latencyMs.samples === 0
      ? "  latency         none: no device reached a desired state"
      : `  latency         p50 ${ms(s.latencyMs.p50)}, p99 ${ms(s.latencyMs.p99)}, max ${ms(s.latencyMs.max)} (desired state set -> reached, ${s.latencyMs.samples} samples)`,
    `  isolation       ${s.isolation}, ${s.workers} workers, fail rate ${s.failRate}`,
    `  backend         ${s.backend}`,
  ];
  if (s.suppressedWarnings > 0) lines.push(`  warnings        ${s.suppressedWarnings} not printed`);
  if (s.convergence.length > 1) {
    lines.push("  convergence     devices converged over time");
    for (const row of convergenceChart(s.convergence, s.devices, s.convergenceIntervalMs, { width: 48, height: 4 })) lines.push(`    ${row}`);
  }
  if (!demoSucceeded(s)) {
    const why =
      s.outcome === "interrupted" ? "before the run was interrupted"
      : s.outcome === "error" ? "before the run failed"
      : `within the ${timeoutMs === undefined ? "" : `${timeoutMs / 1_000} s `}timeout`;
    lines.push(`${s.notConverged} of ${s.devices} devices did not converge ${why}`);
  }
  return `${lines.join("\n")}\n`;
}
