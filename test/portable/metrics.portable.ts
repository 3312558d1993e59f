// Metrics on every runtime: the Prometheus text and snapshot of a short run of
// hooks, and the metrics server (node:http) over real HTTP on a free loopback port.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HealthState } from "../../src/metrics/metrics-health.js";
import { metricsFetchHandler, serveMetrics } from "../../src/metrics/metrics-server.js";
import { ControllerMetrics, type MetricsSnapshot } from "../../src/metrics/metrics.js";
import { runtime, within } from "./harness.js";

/** A metrics object after one key was added, reconciled with an error, retried, and reconciled again. */
function exercised(): ControllerMetrics {
  let now = 0;
  const metrics = new ControllerMetrics({ now: () => now });
  metrics.bind(3, metrics.kindIndex("Device"));
  metrics.setCallbacks({ queueDepth: () => 2, poolUtilization: () => 0.25 });
  metrics.added(3);
  now = 2;
  metrics.dequeued(3);
  now = 4;
  metrics.reconciled(3, "error", 1.5);
  metrics.retried(3, 10);
  metrics.done(3);
  now = 16; // 2 ms after its backoff ended
  metrics.dequeued(3);
  now = 17;
  metrics.reconciled(3, "success", 0.5);
  metrics.done(3);
  return metrics;
}

function line(text: string, series: string): string | undefined {
  return text.split("\n").find((l) => l.startsWith(`${series} `));
}

describe(`metrics on ${runtime()}`, () => {
  it("renders counters, callback gauges and cumulative histograms as Prometheus text", () => {
    const text = exercised().prometheus();
    assert.equal(line(text, 'converge_workqueue_adds_total{kind="Device"}'), 'converge_workqueue_adds_total{kind="Device"} 2');
    assert.equal(line(text, 'converge_workqueue_retries_total{kind="Device"}'), 'converge_workqueue_retries_total{kind="Device"} 1');
    assert.equal(line(text, 'converge_reconcile_total{kind="Device",outcome="error"}'), 'converge_reconcile_total{kind="Device",outcome="error"} 1');
    assert.equal(line(text, 'converge_reconcile_total{kind="Device",outcome="success"}'), 'converge_reconcile_total{kind="Device",outcome="success"} 1');
    assert.equal(line(text, "converge_workqueue_depth"), "converge_workqueue_depth 2");
    assert.equal(line(text, "converge_pool_utilization"), "converge_pool_utilization 0.25");
    assert.match(text, /# HELP converge_workqueue_queue_duration_seconds .+\n# TYPE converge_workqueue_queue_duration_seconds histogram\n/);
    // Two waits of 2 ms (the second measured from the end of its 10 ms backoff).
    assert.equal(line(text, 'converge_workqueue_queue_duration_seconds_bucket{kind="Device",le="0.001"}')?.split(" ")[1], "0");
    assert.equal(line(text, 'converge_workqueue_queue_duration_seconds_bucket{kind="Device",le="0.0025"}')?.split(" ")[1], "2");
    assert.equal(line(text, 'converge_workqueue_queue_duration_seconds_bucket{kind="Device",le="+Inf"}')?.split(" ")[1], "2");
    assert.equal(line(text, 'converge_workqueue_queue_duration_seconds_count{kind="Device"}')?.split(" ")[1], "2");
    assert.equal(line(text, 'converge_workqueue_queue_duration_seconds_sum{kind="Device"}')?.split(" ")[1], "0.004");
  });

  it("gives the same numbers as a snapshot", () => {
    const s = exercised().snapshot();
    assert.equal(s.queue.adds, 2);
    assert.equal(s.queue.retries, 1);
    assert.equal(s.queue.depth, 2);
    assert.equal(s.queue.processing, 0);
    assert.deepEqual([s.queue.workSeconds.count, s.queue.workSeconds.sum], [2, 0.003]);
    assert.deepEqual([s.queue.backoffSeconds.count, s.queue.backoffSeconds.sum], [1, 0.01]);
    assert.equal(s.reconciles.total, 2);
    assert.equal(s.kinds.Device.reconciles.error, 1);
  });

  it("serves /metrics, /metrics.json, /healthz and /readyz over node:http on a free port", async () => {
    const health = new HealthState();
    const server = await serveMetrics({ port: 0, metrics: exercised(), health });
    try {
      const get = async (path: string, init?: RequestInit) => {
        const r = await within(fetch(`${server.url}${path}`, init), `GET ${path}`);
        return { status: r.status, type: r.headers.get("content-type"), allow: r.headers.get("allow"), body: await r.text() };
      };
      const metrics = await get("/metrics");
      assert.equal(metrics.status, 200);
      assert.equal(metrics.type, "text/plain; version=0.0.4; charset=utf-8");
      assert.match(metrics.body, /\nconverge_workqueue_adds_total\{kind="Device"\} 2\n/);

      const json = await get("/metrics.json");
      assert.equal(json.status, 200);
      assert.equal(json.type, "application/json; charset=utf-8");
      assert.equal((JSON.parse(json.body) as MetricsSnapshot).queue.adds, 2);

      assert.deepEqual(await get("/healthz").then((a) => [a.status, a.body]), [200, "ok\n"]);
      assert.deepEqual(await get("/readyz").then((a) => [a.status, a.body]), [503, "not ready: starting\n"]);
      health.markReady();
      assert.deepEqual(await get("/readyz").then((a) => [a.status, a.body]), [200, "ready\n"]);
      assert.equal((await get("/nowhere")).status, 404);
      const post = await get("/metrics", { method: "POST", body: "x" });
      assert.deepEqual([post.status, post.allow], [405, "GET, HEAD"]);
    } finally {
      await within(server.close(), "closing the metrics server");
    }
  });

  it("answers through metricsFetchHandler as web-standard Responses", async () => {
    const handle = metricsFetchHandler({ metrics: exercised(), health: new HealthState() });
    const r = handle(new Request("http://local/metrics"))!;
    assert.equal(r.status, 200);
    assert.match(await r.text(), /converge_reconcile_total\{kind="Device",outcome="success"\} 1/);
    assert.equal(handle(new Request("http://local/readyz"))!.status, 503);
    assert.equal(handle(new Request("http://local/other")), undefined);
  });
});
