import { describe, expect, it } from "vitest";
import { findCondition, silentLogger } from "../../src/index.js";
import { runPeriodicExample } from "../../examples/periodic.js";
import ProbeReconciler from "../../examples/periodic-reconciler.js";
import { distUrl } from "../helpers/converged.js";

describe.each(["worker", "inline"] as const)("periodic example (%s)", (isolation) => {
  const reconciler = () => (isolation === "worker" ? distUrl("examples/periodic-reconciler.js") : new ProbeReconciler());

  it("re-checks the probe every period with no event, never early, and stops with the controller", async () => {
    const intervalMs = 30;
    const { checks, final, stats } = await runPeriodicExample({ isolation, reconciler: reconciler(), checks: 4, intervalMs, logger: silentLogger });

    // Every stored version is the next check: one reconcile per period, no extra runs.
    expect(checks.length).toBeGreaterThanOrEqual(4);
    expect(checks.map((s) => s.checks)).toEqual(checks.map((_, i) => i + 1));
    for (let i = 1; i < checks.length; i++) {
      expect(checks[i].lastCheckedAt - checks[i - 1].lastCheckedAt).toBeGreaterThanOrEqual(intervalMs);
    }

    // Only the initial list and the requeues ran it: each reconcile asked for the next.
    expect(stats.reconciles).toBe(checks.length);
    expect(stats.requeued).toBe(stats.reconciles);
    expect(stats.failed).toBe(0);

    // Stopped: two periods later nothing more ran.
    expect(final.status?.checks).toBe(checks.length);
  });

  it("keeps Ready's lastTransitionTime while its status stays True, though the message changes", async () => {
    const { checks } = await runPeriodicExample({ isolation, reconciler: reconciler(), checks: 3, intervalMs: 20, logger: silentLogger });
    const readies = checks.map((s) => findCondition(s.conditions, "Ready"));
    expect(readies.every((c) => c?.status === "True" && c.reason === "Reachable")).toBe(true);
    expect(new Set(readies.map((c) => c?.lastTransitionTime)).size).toBe(1);
    expect(new Set(readies.map((c) => c?.message)).size).toBe(readies.length);
  });
});
