// The embedding examples: the runtime-neutral app (examples/embed-app.ts) through
// `app.fetch`, then a whole device service over real HTTP on a free loopback
// port, served by this runtime's own adapter (Bun.serve, Deno.serve, node:http)
// and, on Bun and Deno, by the node:http adapter too.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DeviceSpecSchema, createEmbedApp, startDeviceService, type EmbedApp, type ResourceView, type ServeOptions, type Served } from "../../examples/embed-app.js";
import type { DeviceSpec, DeviceStatus } from "../../examples/device-reconciler.js";
import { InMemoryStorage, silentLogger, type Resource } from "../../src/index.js";
import { connect } from "node:net";
import { runtime, within } from "./harness.js";

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function answer(response: Response | Promise<Response>): Promise<Answer> {
  const r = await response;
  const text = await r.text();
  return { status: r.status, headers: r.headers, body: text === "" ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

function put(body: string, headers: Record<string, string> = {}): RequestInit {
  return { method: "PUT", body, headers: { "content-type": "application/json", ...headers } };
}

const BASE = "http://embed.test";

function appWith(storage: InMemoryStorage, options: { ready?: () => boolean; maxBodyBytes?: number; schema?: boolean } = {}): EmbedApp {
  return createEmbedApp({
    storage,
    kinds: ["Device"],
    isReady: options.ready ?? (() => true),
    maxBodyBytes: options.maxBodyBytes,
    ...(options.schema ? { specSchemas: { Device: DeviceSpecSchema }, metrics: { prometheus: () => "converge_up 1\n", snapshot: () => ({ up: 1 }) } } : {}),
  });
}

const call = (app: EmbedApp, path: string, init?: RequestInit) => answer(app.fetch(new Request(`${BASE}${path}`, init)));

describe("embed app (runtime-neutral, app.fetch)", () => {
  it("answers /healthz at once and /readyz only once ready", async () => {
    let ready = false;
    const app = appWith(new InMemoryStorage(), { ready: () => ready });
    assert.equal((await call(app, "/healthz")).status, 200);
    assert.deepEqual(await call(app, "/readyz").then((a) => [a.status, a.body.status]), [503, "starting"]);
    ready = true;
    assert.deepEqual(await call(app, "/readyz").then((a) => [a.status, a.body.status]), [200, "ready"]);
    const post = await call(app, "/healthz", { method: "POST" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET");
  });

  it("answers 404 for a missing resource, an unserved kind or an unknown route, and 400 naming a bad kind or uid", async () => {
    const app = appWith(new InMemoryStorage());
    const missing = await call(app, "/resources/Device/nope");
    assert.equal(missing.status, 404);
    assert.match(String(missing.body.message), /Device\/nope does not exist/);
    const unserved = await call(app, "/resources/Switch/s1");
    assert.deepEqual([unserved.status, unserved.body.path], [404, "kind"]);
    assert.equal((await call(app, "/nowhere")).status, 404);
    for (const [path, field] of [
      ["/resources/Dev%2A/d1", "kind"],
      ["/resources/Device/dev.1", "uid"],
      ["/resources/Device/a%20b", "uid"],
      ["/resources/Device/%E0%A4%A", "uid"],
    ] as const) {
      const bad = await call(app, path);
      assert.deepEqual([bad.status, bad.body.error, bad.body.path], [400, "ERR_VALIDATION", field], path);
      assert.match(String(bad.body.message), new RegExp(`^${field}: `), path);
    }
    const patch = await call(app, "/resources/Device/d1", { method: "PATCH" });
    assert.deepEqual([patch.status, patch.headers.get("allow")], [405, "GET, PUT, DELETE"]);
    const post = await call(app, "/resources/Device", { method: "POST" });
    assert.deepEqual([post.status, post.headers.get("allow")], [405, "GET"]);
  });

  it("rejects a bad PUT with 400 (or 413) saying what was wrong, and stores nothing", async () => {
    const storage = new InMemoryStorage();
    const app = appWith(storage, { maxBodyBytes: 256 });
    const cases: [body: string, status: number, path: string | undefined, message: RegExp][] = [
      ["{not json", 400, "body", /not valid JSON/],
      ["", 400, "body", /is empty/],
      ["[1]", 400, "body", /JSON object/],
      ['{"spec":{},"status":{"state":"running"}}', 400, "body.status", /written by the controller/],
      ['{"spec":{},"specs":1}', 400, "body.specs", /not a field/],
      ["{}", 400, "body.spec", /is required/],
      ['{"kind":"Switch","spec":{}}', 400, "body.kind", /differs from the path's kind "Device"/],
      ['{"uid":"other","spec":{}}', 400, "body.uid", /differs from the path's uid "d1"/],
      ['{"spec":{},"metadata":{"labels":{"zone":1}}}', 400, "body.metadata.labels.zone", /must be a string/],
      ['{"spec":{"__proto__":{"polluted":true}}}', 400, "body.spec.__proto__", /forbidden key/],
      [JSON.stringify({ spec: { blob: "x".repeat(300) } }), 413, undefined, /256 bytes/],
    ];
    for (const [body, status, path, message] of cases) {
      const a = await call(app, "/resources/Device/d1", put(body));
      assert.equal(a.status, status, body);
      assert.equal(a.body.path, path, body);
      assert.match(String(a.body.message), message, body);
    }
    const badIfMatch = await call(app, "/resources/Device/d1", put('{"spec":{}}', { "if-match": "yesterday" }));
    assert.deepEqual([badIfMatch.status, badIfMatch.body.path], [400, "if-match"]);
    assert.deepEqual(await storage.list("Device"), []);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it("creates with generation 1, bumps generation only when the spec changes, and keeps the controller's status", async () => {
    const storage = new InMemoryStorage();
    const app = appWith(storage);
    const created = await call(app, "/resources/Device/d1", put('{"spec":{"desired":"running"},"metadata":{"labels":{"zone":"eu"}}}'));
    assert.equal(created.status, 201);
    assert.deepEqual([created.body.generation, created.body.spec], [1, { desired: "running" }]);
    assert.equal(created.headers.get("etag"), `"${created.body.revision}"`);

    // The controller writes a status in between: a PUT must not drop it.
    const stored = (await storage.load("Device", "d1"))!;
    await storage.save("Device", "d1", { ...stored, status: { state: "running" } });

    const same = await call(app, "/resources/Device/d1", put('{"spec":{"desired":"running"}}'));
    assert.deepEqual([same.status, same.body.generation, same.body.status], [200, 1, { state: "running" }]);
    assert.deepEqual((same.body.metadata as Resource["metadata"])?.labels, { zone: "eu" }, "metadata not sent is kept");
    const changed = await call(app, "/resources/Device/d1", put('{"spec":{"desired":"stopped"}}'));
    assert.deepEqual([changed.status, changed.body.generation, changed.body.status], [200, 2, { state: "running" }]);
    const got = await call(app, "/resources/Device/d1");
    assert.deepEqual([got.status, got.body.spec, got.body.revision], [200, { desired: "stopped" }, changed.body.revision]);
  });

  it("with If-Match writes only on that revision: 409 when stale, 412 when missing", async () => {
    const storage = new InMemoryStorage();
    const app = appWith(storage);
    const missing = await call(app, "/resources/Device/d1", put('{"spec":{"n":1}}', { "if-match": '"1"' }));
    assert.equal(missing.status, 412);
    const created = await call(app, "/resources/Device/d1", put('{"spec":{"n":1}}'));
    const etag = created.headers.get("etag")!;
    const ok = await call(app, "/resources/Device/d1", put('{"spec":{"n":2}}', { "if-match": etag }));
    assert.equal(ok.status, 200);
    const stale = await call(app, "/resources/Device/d1", put('{"spec":{"n":3}}', { "if-match": etag }));
    assert.equal(stale.status, 409);
    assert.match(String(stale.body.message), /changed/);
    assert.deepEqual((await storage.load("Device", "d1"))?.spec, { n: 2 });
  });

  it("long-polls with ?wait: answers on the next write after `after`, on deletion, or with the current state when the wait ends", async () => {
    const storage = new InMemoryStorage();
    const app = appWith(storage);
    const r1 = await storage.save("Device", "d1", { kind: "Device", uid: "d1", spec: { n: 1 } });
    // The app watches before it reads, synchronously inside fetch(): each write below lands while it waits.
    const waiting = call(app, `/resources/Device/d1?wait=10000&after=${r1}`);
    const r2 = await storage.save("Device", "d1", { kind: "Device", uid: "d1", spec: { n: 2 } });
    const changed = await within(waiting, "the long-poll answering a write");
    assert.deepEqual([changed.status, changed.body.revision, changed.body.spec], [200, r2, { n: 2 }]);

    // `after` older than the current revision answers at once.
    assert.equal((await within(call(app, `/resources/Device/d1?wait=10000&after=${r1}`), "an immediate answer")).body.revision, r2);

    const timedOut = await call(app, `/resources/Device/d1?wait=20&after=${r2}`);
    assert.deepEqual([timedOut.status, timedOut.body.revision], [200, r2]);

    const deleted = call(app, "/resources/Device/d1?wait=10000");
    await storage.delete("Device", "d1");
    assert.equal((await within(deleted, "the long-poll answering a delete")).status, 404);

    const created = call(app, "/resources/Device/d9?wait=10000");
    await storage.save("Device", "d9", { kind: "Device", uid: "d9", spec: {} });
    assert.equal((await within(created, "the long-poll answering a create")).status, 200);

    const bad = await call(app, "/resources/Device/d1?wait=soon");
    assert.deepEqual([bad.status, bad.body.path], [400, "query.wait"]);
  });

  it("close() answers pending long-polls at once, resolves once they have their answers, and answers later requests with 503", async () => {
    const storage = new InMemoryStorage();
    const app = appWith(storage);
    await storage.save("Device", "d1", { kind: "Device", uid: "d1", spec: {} });
    const answered: number[] = [];
    const waiting = Array.from({ length: 20 }, () => app.fetch(new Request(`${BASE}/resources/Device/d1?wait=30000`)).then((r) => (answered.push(r.status), r)));
    await within(app.close(), "close() resolving");
    assert.deepEqual(answered, Array(20).fill(200), "every long-poll had its answer when close() resolved");
    await Promise.all(waiting);
    assert.equal((await call(app, "/healthz")).status, 503);
  });

  it("checks a PUT's spec against the kind's schema and refuses client-set finalizers and owners, naming the field", async () => {
    const storage = new InMemoryStorage();
    const app = appWith(storage, { schema: true });
    for (const [body, path, message] of [
      ['{"spec":{"desired":42}}', "body.spec.desired", /must be "running" or "stopped"/],
      ['{"spec":{"desired":"running","colour":"red"}}', "body.spec.colour", /./],
      ['{"spec":"string"}', "body.spec", /must be a JSON object, got string/],
      ['{"spec":null}', "body.spec", /must be a JSON object, got null/],
      ['{"spec":[]}', "body.spec", /must be a JSON object, got an array/],
      ['{"spec":{"desired":"running"},"metadata":{"finalizers":["x"]}}', "body.metadata.finalizers", /set by reconcilers/],
      ['{"spec":{"desired":"running"},"metadata":{"ownerUid":"c1","ownerKind":"Cluster"}}', "body.metadata.ownerUid", /set by reconcilers/],
    ] as const) {
      const a = await call(app, "/resources/Device/d1", put(body));
      assert.deepEqual([a.status, a.body.error, a.body.path], [400, "ERR_VALIDATION", path], body);
      assert.match(String(a.body.message), message, body);
    }
    assert.deepEqual(await storage.list("Device"), []);
    assert.equal((await call(app, "/resources/Device/d1", put('{"spec":{"desired":"running"}}'))).status, 201);
  });

  it("lists a kind (filtered by ?selector=), deletes honouring finalizers, and serves /metrics", async () => {
    const storage = new InMemoryStorage();
    const app = appWith(storage, { schema: true });
    await storage.save("Device", "d2", { kind: "Device", uid: "d2", metadata: { labels: { zone: "eu" } }, spec: {} });
    await storage.save("Device", "d1", { kind: "Device", uid: "d1", metadata: { labels: { zone: "eu" }, finalizers: ["example.com/wipe"] }, spec: {} });
    await storage.save("Device", "d3", { kind: "Device", uid: "d3", metadata: { labels: { zone: "us" } }, spec: {} });
    const all = await call(app, "/resources/Device");
    assert.deepEqual([all.status, (all.body.items as ResourceView[]).map((r) => r.uid)], [200, ["d1", "d2", "d3"]]);
    const eu = await call(app, "/resources/Device?selector=zone%3Deu");
    assert.deepEqual((eu.body.items as ResourceView[]).map((r) => r.uid), ["d1", "d2"]);
    assert.deepEqual((await call(app, "/resources/Device?selector=zone")).body.path, "query.selector");

    const gone = await call(app, "/resources/Device/d2", { method: "DELETE" });
    assert.deepEqual([gone.status, gone.body.deleted], [200, true]);
    assert.equal(await storage.load("Device", "d2"), undefined);
    const held = await call(app, "/resources/Device/d1", { method: "DELETE" });
    assert.deepEqual([held.status, held.body.deleted, held.body.finalizers], [202, false, ["example.com/wipe"]]);
    assert.equal(typeof (await storage.load("Device", "d1"))?.metadata?.deletedAt, "string");
    assert.equal((await call(app, "/resources/Device/d2", { method: "DELETE" })).status, 404);

    const metrics = await app.fetch(new Request(`${BASE}/metrics`));
    assert.deepEqual([metrics.status, await metrics.text()], [200, "converge_up 1\n"]);
    assert.match(metrics.headers.get("content-type") ?? "", /^text\/plain/);
  });
});

/** Node only (the leak was Node 20's): a gc() without --expose-gc, for the heap test. */
async function nodeGc(): Promise<(() => void) | undefined> {
  if (runtime() !== "node") return undefined;
  const v8 = await import("node:v8");
  const vm = await import("node:vm");
  v8.setFlagsFromString("--expose-gc");
  return vm.runInNewContext("gc") as () => void;
}

describe("embed app long-polls (memory)", () => {
  it("keeps no memory per finished long-poll: the heap after gc plateaus over 50,000 long-polls", { timeout: 120_000 }, async () => {
    const gc = await nodeGc();
    if (!gc) return; // Bun and Deno never leaked here; their gc is not reachable the same way.
    const storage = new InMemoryStorage();
    const app = appWith(storage);
    await storage.save("Device", "d1", { kind: "Device", uid: "d1", spec: {} });
    // Each long-poll waits until its client leaves (the request's signal): no timers, no sleeps.
    const round = async (count: number) => {
      const left = new AbortController();
      const polls = Array.from({ length: count }, () => app.fetch(new Request(`${BASE}/resources/Device/d1?wait=30000`, { signal: left.signal })));
      left.abort();
      for (const response of await Promise.all(polls)) assert.equal(response.status, 200);
    };
    const heapAfter = async (rounds: number) => {
      for (let i = 0; i < rounds; i++) await round(1_000);
      // A few turns between collections: the fetch classes free some memory in finalizers.
      for (let i = 0; i < 3; i++) {
        gc();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return process.memoryUsage().heapUsed;
    };
    await heapAfter(5); // warm-up: code, caches and pools reach their size
    const start = await heapAfter(10);
    const end = await heapAfter(50);
    // 50,000 long-polls: ~70 bytes each (the leak) would be 3.5 MB; a generous bound far below it.
    assert.ok(end - start < 1.5 * 1024 * 1024, `heap grew by ${((end - start) / 1024).toFixed(0)} KiB over 50,000 long-polls`);
    await app.close();
  });
});

/** Sends `head` (a request's head, CRLF-separated) on a raw socket; resolves with the status line. */
function rawStatusLine(url: string, head: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(head));
    let text = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      text += chunk;
      if (text.includes("\r\n")) {
        resolve(text.split("\r\n")[0]);
        socket.destroy();
      }
    });
    socket.on("error", reject);
    socket.on("close", () => resolve(text.split("\r\n")[0]));
  });
}

type Adapter = (app: EmbedApp, options: ServeOptions) => Promise<Served> | Served;

/** This runtime's own server first; Bun and Deno also run the node:http adapter. */
async function adapters(): Promise<[string, Adapter][]> {
  const node: [string, Adapter] = ["node:http", (await import("../../examples/embed-node.js")).serveNode];
  switch (runtime()) {
    case "bun":
      return [["Bun.serve", (await import("../../examples/embed-bun.js")).serveBun], node];
    case "deno":
      return [["Deno.serve", (await import("../../examples/embed-deno.js")).serveDeno], node];
    default:
      return [node];
  }
}

function converged(view: ResourceView): boolean {
  const spec = view.spec as DeviceSpec;
  const status = view.status as DeviceStatus | undefined;
  const ready = view.conditions.find((c) => c.type === "Ready");
  return (
    status?.state === spec.desired &&
    ready?.status === (spec.desired === "running" ? "True" : "False") &&
    ready.observedGeneration === view.generation
  );
}

/** Long-polls GET until the device is converged; a bounded number of tries, each bounded in time. */
async function untilConverged(url: string, after: number): Promise<ResourceView> {
  let seen = after;
  for (let attempt = 0; attempt < 20; attempt++) {
    const a = await answer(fetch(`${url}?wait=2000&after=${seen}`));
    assert.equal(a.status, 200);
    const view = a.body as unknown as ResourceView;
    if (converged(view)) return view;
    seen = view.revision;
  }
  throw new Error(`${url} did not converge (last revision ${seen})`);
}

for (const [name, serve] of await adapters()) {
  describe(`embedded device service on ${runtime()} via ${name} (real HTTP)`, () => {
    it("is healthy at once, ready after the initial list, and reports a PUT device converged", { timeout: 20_000 }, async () => {
      const service = startDeviceService({ workers: 2, logger: silentLogger });
      const served = await serve(service.app, { port: 0, hostname: "127.0.0.1" });
      try {
        assert.match(served.url, /^http:\/\/127\.0\.0\.1:\d+$/);
        assert.equal((await answer(fetch(`${served.url}/healthz`))).status, 200);
        await within(service.ready, "the controller's start", 10_000);
        assert.equal((await answer(fetch(`${served.url}/readyz`))).status, 200);

        const device = `${served.url}/resources/Device/dev-1`;
        assert.equal((await answer(fetch(device))).status, 404);
        const created = await answer(fetch(device, put(JSON.stringify({ spec: { desired: "running", config: "default" } }))));
        assert.equal(created.status, 201);
        const running = await untilConverged(device, created.body.revision as number);
        assert.deepEqual([(running.status as DeviceStatus).state, running.generation], ["running", 1]);

        const flipped = await answer(fetch(device, put(JSON.stringify({ spec: { desired: "stopped", config: "default" } }))));
        assert.deepEqual([flipped.status, flipped.body.generation], [200, 2]);
        const stopped = await untilConverged(device, flipped.body.revision as number);
        assert.equal((stopped.status as DeviceStatus).state, "stopped");

        const bad = await answer(fetch(device, put('{"spec":{"desired":"running"},"status":{"state":"running"}}')));
        assert.deepEqual([bad.status, bad.body.path], [400, "body.status"]);
        assert.match(String(bad.body.message), /written by the controller/);
      } finally {
        await service.app.close();
        await served.close();
        await service.close();
      }
    });

    it("lists, deletes, serves /metrics, refuses a bad spec naming the field, and answers a bad Host with 400", { timeout: 20_000 }, async () => {
      const service = startDeviceService({ workers: 1, isolation: "inline", logger: silentLogger });
      const served = await serve(service.app, { port: 0, hostname: "127.0.0.1" });
      try {
        await within(service.ready, "the controller's start", 10_000);
        for (const body of ['{"spec":{"desired":42}}', '{"spec":"string"}', '{"spec":null}']) {
          const bad = await answer(fetch(`${served.url}/resources/Device/dev-9`, put(body)));
          assert.equal(bad.status, 400, body);
          assert.match(String(bad.body.path), /^body\.spec/, body);
        }
        for (const uid of ["dev-1", "dev-2"]) {
          const created = await answer(fetch(`${served.url}/resources/Device/${uid}`, put('{"spec":{"desired":"running"},"metadata":{"labels":{"site":"a"}}}')));
          assert.equal(created.status, 201);
        }
        const listed = await answer(fetch(`${served.url}/resources/Device?selector=site=a`));
        assert.deepEqual((listed.body.items as ResourceView[]).map((r) => r.uid), ["dev-1", "dev-2"]);
        const deleted = await answer(fetch(`${served.url}/resources/Device/dev-2`, { method: "DELETE" }));
        assert.deepEqual([deleted.status, deleted.body.deleted], [200, true]);
        assert.equal((await answer(fetch(`${served.url}/resources/Device/dev-2`))).status, 404);
        const metrics = await fetch(`${served.url}/metrics`);
        assert.equal(metrics.status, 200);
        assert.match(await metrics.text(), /^# HELP converge_/m);
        // Not 500: the runtime's own server or the adapter refuses it as the client's mistake.
        assert.match(await rawStatusLine(served.url, "GET /healthz HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n"), /^HTTP\/1\.1 400/);
      } finally {
        await service.app.close();
        await served.close();
        await service.close();
      }
    });

    it("close() answers pending long-polls over HTTP before the server closes", { timeout: 20_000 }, async () => {
      const service = startDeviceService({ workers: 1, isolation: "inline", logger: silentLogger });
      const served = await serve(service.app, { port: 0, hostname: "127.0.0.1" });
      let closed = false;
      try {
        await within(service.ready, "the controller's start", 10_000);
        const device = `${served.url}/resources/Device/dev-1`;
        const created = await answer(fetch(device, put('{"spec":{"desired":"running"}}')));
        // Far in the future: only close() can end these long-polls early.
        const polls = Array.from({ length: 20 }, () => answer(fetch(`${device}?wait=30000&after=${(created.body.revision as number) + 1000}`)));
        // Each long-poll's request is in once a later request on another connection is answered.
        await answer(fetch(`${served.url}/healthz`));
        await within(service.app.close(), "app.close()");
        await within(served.close(), "the server's close");
        closed = true;
        const answers = await within(Promise.all(polls), "the long-polls' answers");
        assert.deepEqual(answers.map((a) => a.status), Array(20).fill(200));
      } finally {
        if (!closed) {
          await service.app.close();
          await served.close();
        }
        await service.close();
      }
    });
  });
}
