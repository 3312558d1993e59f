import { request as httpRequest, Agent } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { ValidationError } from "../../src/codec/errors.js";
import { HealthState } from "../../src/metrics/metrics-health.js";
import { metricsFetchHandler, MetricsServerError, serveMetrics, type MetricsServer } from "../../src/metrics/metrics-server.js";
import { ControllerMetrics, type MetricsSnapshot } from "../../src/metrics/metrics.js";

const open: MetricsServer[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

async function serve(health?: HealthState, metrics = new ControllerMetrics()): Promise<{ server: MetricsServer; metrics: ControllerMetrics }> {
  const server = await serveMetrics({ port: 0, metrics, health });
  open.push(server);
  return { server, metrics };
}

describe("serveMetrics", () => {
  it("serves Prometheus text on /metrics and the snapshot on /metrics.json", async () => {
    const metrics = new ControllerMetrics();
    metrics.bind(0, metrics.kindIndex("Device"));
    metrics.added(0);
    metrics.setCallbacks({ queueDepth: () => 1 });
    const { server } = await serve(new HealthState(), metrics);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    expect(server.port).toBeGreaterThan(0);

    const text = await fetch(`${server.url}/metrics`);
    expect(text.status).toBe(200);
    expect(text.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(text.headers.get("cache-control")).toBe("no-store");
    const body = await text.text();
    expect(body).toContain('\nconverge_workqueue_adds_total{kind="Device"} 1\n');
    expect(body).toContain("\nconverge_workqueue_depth 1\n");

    const json = await fetch(`${server.url}/metrics.json?pretty=no`);
    expect(json.status).toBe(200);
    expect(json.headers.get("content-type")).toBe("application/json; charset=utf-8");
    const snapshot = (await json.json()) as MetricsSnapshot;
    expect(snapshot.queue).toMatchObject({ adds: 1, depth: 1 });
    expect(snapshot.kinds.Device.adds).toBe(1);
  });

  it("answers /healthz 200 while live and 503 once dead, /readyz 503 until ready and after", async () => {
    const health = new HealthState();
    const { server } = await serve(health);
    const get = async (path: string) => {
      const r = await fetch(`${server.url}${path}`);
      return [r.status, r.headers.get("content-type"), await r.text()];
    };
    expect(await get("/healthz")).toEqual([200, "text/plain; charset=utf-8", "ok\n"]);
    expect(await get("/readyz")).toEqual([503, "text/plain; charset=utf-8", "not ready: starting\n"]);
    health.markReady();
    expect(await get("/readyz")).toEqual([200, "text/plain; charset=utf-8", "ready\n"]);
    health.markNotReady("stopped");
    expect(await get("/readyz")).toEqual([503, "text/plain; charset=utf-8", "not ready: stopped\n"]);
    health.markDead("wedged");
    expect(await get("/healthz")).toEqual([503, "text/plain; charset=utf-8", "not live: wedged\n"]);
  });

  it("answers 404 for other paths (and health without a HealthState), 405 with Allow for other methods, and HEAD without a body", async () => {
    const metrics = new ControllerMetrics();
    metrics.kindIndex("Device");
    const { server } = await serve(undefined, metrics);
    expect((await fetch(`${server.url}/`)).status).toBe(404);
    expect((await fetch(`${server.url}/metricsx`)).status).toBe(404);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(404);
    const post = await fetch(`${server.url}/metrics`, { method: "POST", body: "x" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
    const head = await fetch(`${server.url}/metrics`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get("content-length"))).toBeGreaterThan(0);
    expect(await head.text()).toBe("");
  });

  it("answers 500 naming the endpoint when reading the metrics fails", async () => {
    const broken = { prometheus: () => { throw new Error("registry gone"); }, snapshot: () => ({}) };
    const server = await serveMetrics({ port: 0, metrics: broken });
    open.push(server);
    const r = await fetch(`${server.url}/metrics`);
    expect(r.status).toBe(500);
    expect(await r.text()).toBe("reading /metrics failed: registry gone\n");
  });

  it("closes even with a scraper's keep-alive connection open, and twice is fine", async () => {
    const { server } = await serve(new HealthState());
    const agent = new Agent({ keepAlive: true });
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${server.url}/healthz`, { agent }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      });
      req.on("error", reject);
      req.end();
    });
    expect(status).toBe(200);
    await server.close();
    await server.close();
    agent.destroy();
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  });

  it("fails with MetricsServerError when the port is taken, and ValidationError for bad options", async () => {
    const { server } = await serve();
    const taken = serveMetrics({ port: server.port, metrics: new ControllerMetrics() });
    await expect(taken).rejects.toThrow(MetricsServerError);
    await expect(serveMetrics({ port: server.port, metrics: new ControllerMetrics() })).rejects.toMatchObject({
      code: "ERR_METRICS_SERVER",
      message: expect.stringContaining(`cannot listen on 127.0.0.1:${server.port}`),
    });
    await expect(serveMetrics({ port: 70_000, metrics: new ControllerMetrics() })).rejects.toThrow(/serveMetrics options\.port: must be an integer in 0\.\.65535/);
    await expect(serveMetrics({ port: 0, host: "", metrics: new ControllerMetrics() })).rejects.toThrow(/options\.host/);
    await expect(serveMetrics({ port: 0, metrics: {} as ControllerMetrics })).rejects.toThrow(ValidationError);
    await expect(serveMetrics({ port: 0, metrics: new ControllerMetrics(), health: {} as HealthState })).rejects.toThrow(/health: must have live and ready/);
  });
});

describe("metricsFetchHandler", () => {
  it("answers the same routes as web-standard Responses, and undefined for paths it does not serve", async () => {
    const health = new HealthState();
    const handle = metricsFetchHandler({ metrics: new ControllerMetrics(), health });
    const metrics = handle(new Request("http://x/metrics"))!;
    expect([metrics.status, metrics.headers.get("content-type")]).toEqual([200, "text/plain; version=0.0.4; charset=utf-8"]);
    expect(handle(new Request("http://x/readyz"))!.status).toBe(503);
    health.markReady();
    expect(handle(new Request("http://x/readyz"))!.status).toBe(200);
    expect(handle(new Request("http://x/resources/Device/d1"))).toBeUndefined();
    expect(handle(new Request("http://x/metrics", { method: "DELETE" }))!.status).toBe(405);
  });
});
