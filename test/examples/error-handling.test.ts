import { describe, expect, it } from "vitest";
import { findCondition, silentLogger, type Condition } from "../../src/index.js";
import { BACKOFF_BASE_MS, runErrorHandlingExample } from "../../examples/error-handling.js";
import FlakyDeviceReconciler, { WARMUP_RECHECK_MS } from "../../examples/flaky-device-reconciler.js";
import { distUrl } from "../helpers/converged.js";

const ms = (c: Condition | undefined) => Date.parse(c?.lastTransitionTime ?? "");

describe.each(["worker", "inline"] as const)("error handling example (%s)", (isolation) => {
  it("retries, gives up, and requeues as each kind of trouble asks", async () => {
    const { devices, readyHistory, stats, fixed } = await runErrorHandlingExample({
      isolation,
      reconciler: isolation === "worker" ? distUrl("examples/flaky-device-reconciler.js") : new FlakyDeviceReconciler(),
      logger: silentLogger,
    });
    const conditions = (uid: string) => devices[uid].status?.conditions;

    // Transient: the condition set before each throw was written; retried with
    // backoff 10, 20, 40 ms until the 4th attempt connected.
    const transient = readyHistory["dev-transient"];
    expect(transient.map((c) => `${c.status} ${c.reason} ${c.message}`)).toEqual([
      "False ConnectError connection refused (attempt 1)",
      "False ConnectError connection refused (attempt 2)",
      "False ConnectError connection refused (attempt 3)",
      "True DeviceReady Device is ready",
    ]);
    // Same status across the failures: the transition time stayed put.
    expect(new Set(transient.slice(0, 3).map((c) => c.lastTransitionTime)).size).toBe(1);
    expect(ms(transient[3]) - ms(transient[0])).toBeGreaterThanOrEqual(BACKOFF_BASE_MS * (1 + 2 + 4));
    expect(devices["dev-transient"].status).toMatchObject({ connected: true, connectAttempts: 4, state: "running" });
    expect(stats.failed).toBe(3);

    // Permanent, TerminalError: recorded by the controller, counted, not retried.
    expect(findCondition(conditions("dev-invalid"), "Reconciled")).toMatchObject({
      status: "False",
      reason: "InvalidConfig",
      message: "Config is nil",
    });
    expect(findCondition(conditions("dev-invalid"), "Ready")).toBeUndefined();
    expect(stats.terminal).toBe(1);

    // Permanent, the seed's way: the reconciler's own condition; a success to the controller.
    expect(conditions("dev-invalid-seed")).toEqual([
      expect.objectContaining({ type: "Ready", status: "False", reason: "InvalidConfig", message: "Config is nil" }),
    ]);

    // Temporary: checked again every 20 ms (no backoff, no failure) until ready.
    const warming = readyHistory["dev-warming"];
    expect(warming.map((c) => `${c.status} ${c.reason}`)).toEqual([
      "False WarmingUp",
      "False WarmingUp",
      "False WarmingUp",
      "True DeviceReady",
    ]);
    expect(new Set(warming.slice(0, 3).map((c) => c.lastTransitionTime)).size).toBe(1);
    expect(ms(warming[3]) - ms(warming[0])).toBeGreaterThanOrEqual(3 * WARMUP_RECHECK_MS);
    expect(devices["dev-warming"].status).toMatchObject({ warmupChecks: 3, state: "running" });

    // 4 (transient) + 1 + 1 (permanent: never retried) + 4 (warming); nothing left waiting.
    expect(stats.reconciles).toBe(10);
    expect(stats.delayed).toBe(0);

    // A new spec is what a terminal failure waits for: then it converges.
    expect(fixed.metadata?.generation).toBe(2);
    expect(findCondition(fixed.status?.conditions, "Reconciled")).toMatchObject({ status: "True", reason: "Succeeded" });
    expect(findCondition(fixed.status?.conditions, "Ready")).toMatchObject({ status: "True", observedGeneration: 2 });
  });
});
