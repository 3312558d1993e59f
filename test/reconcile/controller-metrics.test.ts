import { afterEach, describe, expect, it } from "vitest";
import {
  BaseReconciler,
  Controller,
  InMemoryEventBus,
  InMemoryStorage,
  StorageClient,
  TerminalError,
  silentLogger,
  type ReconcileContext,
  type Resource,
} from "../../src/index.js";
import { ControllerMetrics, serveMetrics } from "../../src/metrics.js";

type Thing = Resource<{ mode: "ok" | "fail-once" | "terminal" }, { done?: boolean }>;

class Modal extends BaseReconciler<Thing> {
  readonly resourceKind = "Thing";
  async reconcile(ctx: ReconcileContext, t: Thing): Promise<void> {
    if (t.spec.mode === "terminal") throw new TerminalError("never");
    if (t.spec.mode === "fail-once" && ctx.attempt === 1) throw new Error("once");
    t.status = { done: true };
    await this.updateStatus(ctx, t);
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe("controller metrics and health", () => {
  it("counts adds, outcomes, retries and durations per kind, and reports health", async () => {
    const metrics = new ControllerMetrics();
    const bus = new InMemoryEventBus();
    const storage = new InMemoryStorage();
    const controller = new Controller(bus, storage, { isolation: "inline", logger: silentLogger, metrics });
    await controller.registerReconciler(new Modal());
    cleanups.push(async () => {
      await controller.stop();
      await bus.close();
      await storage.close();
    });
    expect(controller.health.report().ready).toBe(false);
    const client = new StorageClient(storage);
    await client.create({ kind: "Thing", uid: "a", spec: { mode: "ok" } });
    await client.create({ kind: "Thing", uid: "b", spec: { mode: "fail-once" } });
    await client.create({ kind: "Thing", uid: "c", spec: { mode: "terminal" } });
    await controller.start();
    expect(controller.health.report().ready).toBe(true);
    for (let i = 0; i < 1000 && !(((await storage.load("Thing", "b")) as Thing).status?.done); i++) {
      await controller.idle();
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await controller.idle();
    const text = metrics.prometheus();
    expect(text).toMatch(/converge_reconcile_total\{kind="Thing",outcome="success"\} 2/);
    expect(text).toMatch(/converge_reconcile_total\{kind="Thing",outcome="error"\} 1/);
    expect(text).toMatch(/converge_reconcile_total\{kind="Thing",outcome="terminal"\} 1/);
    expect(text).toMatch(/converge_workqueue_retries_total\{kind="Thing"\} 1/);
    expect(text).toMatch(/converge_workqueue_adds_total\{kind="Thing"\} [1-9]/);
    expect(text).toMatch(/converge_workqueue_depth 0/);
    expect(text).toMatch(/converge_reconcile_time_seconds_count\{kind="Thing"\} 4/);
    await controller.stop();
    expect(controller.health.report().ready).toBe(false);
  });

  it("serves them over HTTP", async () => {
    const metrics = new ControllerMetrics();
    const controller = new Controller(new InMemoryEventBus(), new InMemoryStorage(), { isolation: "inline", logger: silentLogger, metrics });
    await controller.registerReconciler(new Modal());
    const server = await serveMetrics({ port: 0, metrics, health: controller.health });
    cleanups.push(async () => {
      await server.close();
      await controller.stop();
    });
    expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
    await controller.start();
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    const response = await fetch(`${server.url}/metrics`);
    expect(response.headers.get("content-type")).toMatch(/text\/plain; version=0\.0\.4/);
    expect(await response.text()).toMatch(/# TYPE converge_reconcile_total counter/);
  });

  it("rejects a metrics option that is not a ControllerMetrics", () => {
    expect(() => new Controller(new InMemoryEventBus(), new InMemoryStorage(), { metrics: {} as ControllerMetrics })).toThrow(/options.metrics/);
  });
});
