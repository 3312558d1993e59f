// Fleet dispatch: one slot per reconcile, each with its own deadline and signal,
// in both isolations. The reconciler is a fixture module, so worker and inline
// run the same code.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Controller, ExponentialBackoffRateLimiter, InMemoryEventBus, InMemoryStorage, type Logger } from "../../src/index.js";
import { ControllerMetrics } from "../../src/metrics.js";
import { maxConcurrent, type FleetDevice, type FleetMode } from "../fixtures/fleet-reconciler.js";
import { distUrl, untilAll } from "../helpers/converged.js";

const FLEET = distUrl("test/fixtures/fleet-reconciler.js");

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "converge-dispatch-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A logger that keeps every line, for asserting on what was said. */
function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (message: unknown, ...args: unknown[]) => {
    lines.push(`${level} ${[message, ...args].map((a) => (a instanceof Error ? a.message : typeof a === "object" ? JSON.stringify(a) : String(a))).join(" ")}`);
  };
  return { lines, debug: () => {}, info: at("info"), warn: at("warn"), error: at("error") };
}

async function setup(isolation: "worker" | "inline", options: ConstructorParameters<typeof Controller>[2] = {}) {
  const bus = new InMemoryEventBus();
  const storage = new InMemoryStorage();
  const logger = recordingLogger();
  const controller = new Controller(bus, storage, { workers: 2, isolation, logger, ...options });
  await controller.registerReconciler(FLEET);
  cleanups.push(async () => {
    await controller.stop();
    await bus.close();
    await storage.close();
  });
  return { storage, controller, logger };
}

async function create(storage: InMemoryStorage, uid: string, mode: FleetMode, spec: Partial<FleetDevice["spec"]> = {}) {
  await storage.save("FleetDevice", uid, { kind: "FleetDevice", uid, spec: { mode, ...spec } } satisfies FleetDevice);
}

const isDone = (r: FleetDevice) => r.status?.done === true;

for (const isolation of ["worker", "inline"] as const) {
  describe(`dispatch (${isolation})`, () => {
    it("a reconcile stuck on the network does not delay the others", async () => {
      const gate = join(tempDir(), "open");
      const { storage, controller } = await setup(isolation);
      await create(storage, "slow", "gate", { gate });
      const fast = Array.from({ length: 200 }, (_, i) => `fast-${i}`);
      for (const uid of fast) await create(storage, uid, "ok");
      await controller.start();
      await untilAll<FleetDevice>(storage, "FleetDevice", fast, isDone);
      // Every other device converged while the slow one still holds its slot.
      expect((await storage.load("FleetDevice", "slow"))?.status).toBeUndefined();
      expect(controller.stats().running).toBe(1);
      writeFileSync(gate, "");
      await untilAll<FleetDevice>(storage, "FleetDevice", ["slow"], isDone);
    });

    it("runs at most maxConcurrentReconciles at once, and reaches that many", async () => {
      const log = join(tempDir(), "journal");
      const { storage, controller } = await setup(isolation, { maxConcurrentReconciles: 6 });
      const uids = Array.from({ length: 60 }, (_, i) => `d-${i}`);
      for (const uid of uids) await create(storage, uid, "sleep", { ms: 20, log });
      await controller.start();
      await untilAll<FleetDevice>(storage, "FleetDevice", uids, isDone);
      const most = maxConcurrent(readFileSync(log, "utf8"));
      expect(most).toBeLessThanOrEqual(6);
      expect(most).toBe(6);
    });

    it("gives each reconcile its own signal: twenty listeners print no MaxListenersExceededWarning", async () => {
      const warnings: string[] = [];
      const onWarning = (warning: Error) => warnings.push(warning.name);
      process.on("warning", onWarning);
      cleanups.push(() => void process.off("warning", onWarning));
      const { storage, controller } = await setup(isolation);
      const uids = Array.from({ length: 30 }, (_, i) => `l-${i}`);
      for (const uid of uids) await create(storage, uid, "listeners");
      await controller.start();
      await untilAll<FleetDevice>(storage, "FleetDevice", uids, isDone);
      expect(warnings).not.toContain("MaxListenersExceededWarning");
    });

    it("fails only the key whose status cannot be stored, with the same error in both isolations", async () => {
      const { storage, controller, logger } = await setup(isolation, { rateLimiter: fastRetries() });
      const others = Array.from({ length: 20 }, (_, i) => `ok-${i}`);
      for (const uid of others) await create(storage, uid, "ok");
      await create(storage, "bad", "unclonable");
      await controller.start();
      await untilAll<FleetDevice>(storage, "FleetDevice", others, isDone);
      await expect.poll(() => logger.lines.some((l) => l.includes("FleetDevice/bad") && l.includes("value.status.cb: (function) cannot be stored"))).toBe(true);
      expect(controller.stats().threadsReplaced).toBe(0);
      expect((await storage.load("FleetDevice", "bad"))?.status).toBeUndefined();
    });
  });
}

describe("dispatch: deadlines", () => {
  it("counts reconcileTimeout from each reconcile's own start, with its own signal", async () => {
    const bus = new InMemoryEventBus();
    const storage = new InMemoryStorage();
    const controller = new Controller(bus, storage, { isolation: "inline", reconcileTimeout: 300, logger: recordingLogger(), rateLimiter: slowRetries() });
    const signals = new Map<string, AbortSignal>();
    const startedAt = new Map<string, number>();
    let secondAbortedWhenFirstWas: boolean | undefined;
    let secondStarted!: () => void;
    const secondRunning = new Promise<void>((resolve) => (secondStarted = resolve));
    await controller.registerReconciler({
      resourceKind: "Waiter",
      async reconcile(ctx, resource) {
        if (ctx.attempt > 1) return;
        signals.set(resource.uid, ctx.signal);
        startedAt.set(resource.uid, performance.now());
        if (resource.uid === "second") secondStarted();
        await new Promise((_, reject) => ctx.signal.addEventListener("abort", () => {
          if (resource.uid === "first") secondAbortedWhenFirstWas = signals.get("second")?.aborted;
          reject(ctx.signal.reason);
        }));
      },
    });
    cleanups.push(async () => {
      await controller.stop();
      await bus.close();
      await storage.close();
    });
    await storage.save("Waiter", "first", { kind: "Waiter", uid: "first", spec: {} });
    await controller.start();
    await expect.poll(() => signals.has("first")).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await storage.save("Waiter", "second", { kind: "Waiter", uid: "second", spec: {} });
    await secondRunning;
    await controller.idle({ includeDelayed: true });
    expect(signals.get("first")).not.toBe(signals.get("second"));
    // The first reconcile's deadline came while the second, started later, still had time.
    expect(secondAbortedWhenFirstWas).toBe(false);
    expect(controller.stats().timeouts).toBe(2);
  });
});

describe("dispatch (worker): a reconcile that ignores its abort", () => {
  it("gets its thread replaced; the other reconciles on that thread are retried and counted as interrupted", async () => {
    const gate = join(tempDir(), "open");
    const metrics = new ControllerMetrics();
    const { storage, controller, logger } = await setup("worker", { workers: 1, reconcileTimeout: 300, rateLimiter: fastRetries(), metrics });
    const held = Array.from({ length: 5 }, (_, i) => `held-${i}`);
    for (const uid of held) await create(storage, uid, "gate", { gate });
    await create(storage, "stuck", "ignore-abort");
    await controller.start();
    await expect.poll(() => controller.stats().threadsReplaced, { timeout: 20_000 }).toBeGreaterThanOrEqual(1);
    writeFileSync(gate, "");
    await untilAll<FleetDevice>(storage, "FleetDevice", [...held, "stuck"], isDone);
    const stats = controller.stats();
    expect(stats.timeouts).toBeGreaterThanOrEqual(1);
    expect(stats.interrupted).toBeGreaterThanOrEqual(held.length);
    expect(metrics.prometheus()).toMatch(/converge_reconcile_total\{kind="FleetDevice",outcome="interrupted"\} [1-9]/);
    expect(logger.lines.some((l) => l.includes('"stuck":"FleetDevice/stuck"') && l.includes("ignored its abort"))).toBe(true);
  });

  it("a worker that runs out of memory is replaced; the rest converge", async () => {
    const { storage, controller } = await setup("worker", {
      workers: 1,
      rateLimiter: fastRetries(),
      workerResourceLimits: { maxOldGenerationSizeMb: 48 },
    });
    const others = Array.from({ length: 10 }, (_, i) => `ok-${i}`);
    for (const uid of others) await create(storage, uid, "ok");
    await create(storage, "hog", "oom");
    await controller.start();
    await untilAll<FleetDevice>(storage, "FleetDevice", [...others, "hog"], isDone, 30_000);
    expect(controller.stats().threadsReplaced).toBeGreaterThanOrEqual(1);
  });
});

describe("controller.idle", () => {
  it("includeDelayed waits for keys in backoff, not for periodic checks", async () => {
    const bus = new InMemoryEventBus();
    const storage = new InMemoryStorage();
    let calls = 0;
    const controller = new Controller(bus, storage, { isolation: "inline", logger: recordingLogger(), rateLimiter: slowRetries() });
    await controller.registerReconciler({
      resourceKind: "Flaky",
      async reconcile(_ctx, resource) {
        calls++;
        if (resource.uid === "flaky" && calls < 3) throw new Error("not yet");
        return { requeueAfter: 3_600_000 };
      },
    });
    cleanups.push(async () => {
      await controller.stop();
      await bus.close();
      await storage.close();
    });
    await storage.save("Flaky", "flaky", { kind: "Flaky", uid: "flaky", spec: {} });
    await controller.start();
    await controller.idle();
    // Plain idle: the failed key waits out its backoff, and idle does not wait for it.
    expect(calls).toBe(1);
    await controller.idle({ includeDelayed: true });
    expect(calls).toBe(3);
    expect(controller.stats().delayed).toBe(1); // the periodic check, which idle never waits for
  });
});

/** Retries after 10 ms: failures in these tests should come back quickly. */
function fastRetries() {
  return new ExponentialBackoffRateLimiter<string>(10, 10);
}

/** Retries after 200 ms: long enough to tell "in backoff" from "done". */
function slowRetries() {
  return new ExponentialBackoffRateLimiter<string>(200, 200);
}
