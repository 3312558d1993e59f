// A small HTTP service around an in-process controller, written once against the
// web-standard Request/Response: Bun.serve and Deno.serve call `app.fetch`
// directly, and examples/embed-node.ts adapts node:http to it (like hono).
//
//   GET    /healthz                    200 while the process serves
//   GET    /readyz                     200 once the controller started and listed, else 503
//   GET    /metrics                    Prometheus text (/metrics.json: a snapshot)
//   GET    /resources/:kind            the kind's resources; ?selector=k=v,k2=v2 filters on labels
//   GET    /resources/:kind/:uid       spec, status, conditions (404 when missing);
//          ?wait=<ms>&after=<revision> long-poll: answers once the revision exceeds `after`
//                                      (default: the current one), or after `wait` ms
//   PUT    /resources/:kind/:uid       desired state: {"spec": …, "metadata"?: {labels…}}, checked
//                                      against the kind's schema (400 naming the field);
//                                      `If-Match: "<revision>"` makes it compare-and-swap
//   DELETE /resources/:kind/:uid       deletes it (200), or marks it while finalizers hold it (202)
import * as v from "valibot";
import { ControllerMetrics, PROMETHEUS_CONTENT_TYPE } from "../src/metrics.js";
import {
  ConflictError,
  Controller,
  InMemoryEventBus,
  InMemoryStorage,
  StorageClient,
  ValidationError,
  assertKind,
  assertUid,
  parseResource,
  type Condition,
  type Isolation,
  type Logger,
  type Resource,
  type Storage,
} from "../src/index.js";
import {
  HttpError,
  decodeSegment,
  errorResponse,
  etag,
  json,
  nonNegativeInteger,
  only,
  parseIfMatch,
  parseSelector,
  readJsonBody,
} from "./embed-http.js";

export interface EmbedAppOptions {
  storage: Storage;
  /** Kinds served (those a reconciler is registered for); others answer 404. */
  kinds: readonly string[];
  /** True once the controller has started and done its initial list. */
  isReady: () => boolean;
  /** Per kind, a valibot schema of `spec`: a PUT whose spec fails it is answered 400 naming the field. */
  specSchemas?: Readonly<Record<string, v.GenericSchema>>;
  /** Served at /metrics and /metrics.json (a ControllerMetrics fits); 404 without. */
  metrics?: { prometheus(): string; snapshot(): unknown };
  /** Longest `?wait=` honoured, in ms (longer ones are cut to it). Default 30 000. */
  maxWaitMs?: number;
  /** Largest PUT body accepted, in bytes. Default 1 MiB. */
  maxBodyBytes?: number;
}

export interface EmbedApp {
  fetch(request: Request): Promise<Response>;
  /**
   * Answers pending long-polls now (with the current state) and every later
   * request with 503; resolves once every request in flight has its answer,
   * so a server closed after it cuts none off.
   */
  close(): Promise<void>;
}

/** Where and how a runtime adapter (embed-node/-bun/-deno) listens. */
export interface ServeOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1 (loopback only). */
  hostname?: string;
}

/** A listening server: where it is and how to stop it. Await `app.close()` first to answer pending long-polls. */
export interface Served {
  readonly url: string;
  close(): Promise<void>;
}

/** What GET and PUT answer: the resource as stored, conditions lifted out for convenience. */
export interface ResourceView {
  kind: string;
  uid: string;
  revision: number;
  generation: number | undefined;
  metadata: Resource["metadata"];
  spec: unknown;
  status: unknown;
  conditions: Condition[];
}

const PUT_FIELDS: ReadonlySet<string> = new Set(["kind", "uid", "metadata", "spec"]);
/** Metadata that reconcilers and DELETE set; a client setting it could block deletion or be garbage-collected. */
const SERVER_METADATA = ["finalizers", "ownerUid", "ownerKind", "deletedAt"] as const;
const PUT_RETRIES = 5;

export function createEmbedApp(options: EmbedAppOptions): EmbedApp {
  const { storage, isReady, metrics } = options;
  const kinds = new Set(options.kinds);
  const specSchemas = options.specSchemas ?? {};
  const maxWaitMs = options.maxWaitMs ?? 30_000;
  const maxBodyBytes = options.maxBodyBytes ?? 1 << 20;
  const client = new StorageClient(storage);
  let closed = false;
  // Each pending long-poll's own controller, aborted by close(). Not one
  // service-lifetime signal combined into each (AbortSignal.any): on Node 20
  // every combination stays registered on the long-lived signal, a leak per long-poll.
  const longPolls = new Set<AbortController>();
  let inFlight = 0;
  const drained: (() => void)[] = [];

  async function route(request: Request): Promise<Response> {
    if (closed) throw new HttpError(503, "ERR_CLOSING", "the service is shutting down");
    const url = URL.canParse(request.url) ? new URL(request.url) : undefined;
    // Bun hands a Host such as "a b" through: the client's mistake, not the service's.
    if (url === undefined) throw new HttpError(400, "ERR_BAD_REQUEST", `${JSON.stringify(request.url)} is not a valid URL (check the Host header)`, "host");
    const path = url.pathname;
    if (path === "/healthz") return only(request, "GET", () => json(200, { status: "ok" }));
    if (path === "/readyz") {
      return only(request, "GET", () => (isReady() ? json(200, { status: "ready" }) : json(503, { status: "starting" })));
    }
    if (metrics && path === "/metrics") {
      return only(request, "GET", () => new Response(metrics.prometheus(), { headers: { "content-type": PROMETHEUS_CONTENT_TYPE, "cache-control": "no-store" } }));
    }
    if (metrics && path === "/metrics.json") return only(request, "GET", () => json(200, metrics.snapshot()));
    const parts = path.split("/");
    if ((parts.length === 3 || parts.length === 4) && parts[0] === "" && parts[1] === "resources") {
      const kind = assertKind(decodeSegment(parts[2], "kind"), "kind");
      const uid = parts.length === 4 ? assertUid(decodeSegment(parts[3], "uid"), "uid") : undefined;
      if (!kinds.has(kind)) throw new HttpError(404, "ERR_UNKNOWN_KIND", `no reconciler serves kind ${kind} (served: ${[...kinds].join(", ")})`, "kind");
      if (uid === undefined) {
        if (request.method !== "GET" && request.method !== "HEAD") throw new HttpError(405, "ERR_METHOD", `${request.method} is not allowed here`, undefined, { allow: "GET" });
        return list(kind, url.searchParams);
      }
      if (request.method === "GET") return get(kind, uid, url.searchParams, request.signal);
      if (request.method === "PUT") return put(kind, uid, request);
      if (request.method === "DELETE") return remove(kind, uid);
      throw new HttpError(405, "ERR_METHOD", `${request.method} is not allowed here`, undefined, { allow: "GET, PUT, DELETE" });
    }
    throw new HttpError(404, "ERR_NOT_FOUND", `no route for ${request.method} ${path}`);
  }

  async function list(kind: string, query: URLSearchParams): Promise<Response> {
    const selector = parseSelector(query.get("selector"));
    const items = (await storage.loadAll(kind))
      .filter((r) => Object.entries(selector).every(([key, value]) => r.metadata?.labels?.[key] === value))
      .sort((a, b) => (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0))
      .map(view);
    return json(200, { kind, items });
  }

  async function get(kind: string, uid: string, query: URLSearchParams, requestSignal: AbortSignal): Promise<Response> {
    const wait = query.has("wait") ? Math.min(nonNegativeInteger(query.get("wait"), "query.wait"), maxWaitMs) : 0;
    const after = query.has("after") ? nonNegativeInteger(query.get("after"), "query.after") : undefined;
    if (wait === 0) return viewOrNotFound(kind, uid, await storage.load(kind, uid));

    // Ends the wait: its time is up, the client left, or close().
    const done = new AbortController();
    const end = () => done.abort();
    longPolls.add(done);
    requestSignal.addEventListener("abort", end, { once: true });
    if (requestSignal.aborted) end();
    // Not AbortSignal.timeout: Node unrefs its timer, and a pending answer must keep the process alive.
    const timer = setTimeout(end, wait);
    // Watch before loading: a write between the two is seen, never missed.
    const changes = storage.watch(kind, { signal: done.signal });
    try {
      const current = await storage.load(kind, uid);
      const threshold = after ?? current?.metadata?.revision ?? 0;
      if (current && (current.metadata?.revision ?? 0) > threshold) return viewOrNotFound(kind, uid, current);
      for await (const change of changes) {
        if (change.uid !== uid || change.revision <= threshold) continue;
        return viewOrNotFound(kind, uid, change.type === "put" ? change.value : undefined);
      }
      // Waited long enough (or the client left, or the service is closing): the current state.
      return viewOrNotFound(kind, uid, await storage.load(kind, uid));
    } finally {
      clearTimeout(timer);
      end();
      longPolls.delete(done);
      requestSignal.removeEventListener("abort", end);
    }
  }

  async function put(kind: string, uid: string, request: Request): Promise<Response> {
    const body = await readJsonBody(request, maxBodyBytes);
    const desired = desiredResource(kind, uid, body, specSchemas[kind]);
    const ifMatch = parseIfMatch(request.headers.get("if-match"));
    for (let attempt = 1; ; attempt++) {
      const current = await storage.load(kind, uid);
      try {
        if (!current) {
          if (ifMatch !== undefined) throw new HttpError(412, "ERR_PRECONDITION", `${kind}/${uid} does not exist, so If-Match cannot hold`);
          const created = await client.create(desired);
          return json(201, view(created), etag(created.metadata?.revision ?? 0));
        }
        // update() keeps the stored status and bumps generation when the spec changed;
        // finalizers and owner stay as the reconcilers left them.
        const expected = ifMatch ?? current.metadata?.revision;
        const metadata = { ...current.metadata, ...desired.metadata, revision: expected };
        const updated = await client.update({ ...desired, metadata });
        return json(200, view(updated), etag(updated.metadata?.revision ?? 0));
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
        if (ifMatch !== undefined) {
          throw new HttpError(409, "ERR_CONFLICT", `${kind}/${uid} changed: If-Match ${ifMatch} is not its revision (${error.actualRevision ?? "deleted"})`);
        }
        // Someone (often the controller's status write) wrote in between: read again.
        if (attempt >= PUT_RETRIES) throw new HttpError(409, "ERR_CONFLICT", `${kind}/${uid} kept changing; try again`);
      }
    }
  }

  /** As StorageClient.delete: gone at once, or marked (202) while finalizers hold it. */
  async function remove(kind: string, uid: string): Promise<Response> {
    if (!(await client.delete(kind, uid))) throw new HttpError(404, "ERR_NOT_FOUND", `${kind}/${uid} does not exist`);
    const left = await storage.load(kind, uid);
    if (left === undefined) return json(200, { kind, uid, deleted: true });
    return json(202, { ...view(left), deleted: false, finalizers: left.metadata?.finalizers ?? [] });
  }

  return {
    async fetch(request: Request): Promise<Response> {
      inFlight++;
      try {
        return await route(request);
      } catch (error) {
        return errorResponse(error);
      } finally {
        if (--inFlight === 0) drained.splice(0).forEach((resolve) => resolve());
      }
    },
    close(): Promise<void> {
      closed = true;
      for (const longPoll of longPolls) longPoll.abort();
      return inFlight === 0 ? Promise.resolve() : new Promise((resolve) => drained.push(resolve));
    },
  };
}

/** The stored resource for a PUT body: `spec` and optional `metadata`; kind and uid come from the path. */
function desiredResource(kind: string, uid: string, body: unknown, specSchema: v.GenericSchema | undefined): Resource {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new ValidationError("body", `must be a JSON object like {"spec": {…}}, got ${body === null ? "null" : Array.isArray(body) ? "an array" : typeof body}`);
  }
  const fields = body as Record<string, unknown>;
  if ("status" in fields) throw new ValidationError("body.status", "is written by the controller; PUT sets spec (and metadata) only");
  for (const key of Object.keys(fields)) {
    if (!PUT_FIELDS.has(key)) throw new ValidationError(`body.${key}`, `is not a field of a PUT body (allowed: ${[...PUT_FIELDS].join(", ")})`);
  }
  if (fields.kind !== undefined && fields.kind !== kind) {
    throw new ValidationError("body.kind", `${JSON.stringify(fields.kind)} differs from the path's kind ${JSON.stringify(kind)}`);
  }
  if (fields.uid !== undefined && fields.uid !== uid) {
    throw new ValidationError("body.uid", `${JSON.stringify(fields.uid)} differs from the path's uid ${JSON.stringify(uid)}`);
  }
  const parsed = parseResource({ ...fields, kind, uid }, "body");
  // A spec the reconciler cannot read would fail for ever: refused here, where the client sees why.
  if (typeof parsed.spec !== "object" || parsed.spec === null || Array.isArray(parsed.spec)) {
    const got = parsed.spec === null ? "null" : Array.isArray(parsed.spec) ? "an array" : typeof parsed.spec;
    throw new ValidationError("body.spec", `must be a JSON object, got ${got}`);
  }
  if (specSchema !== undefined) {
    const result = v.safeParse(specSchema, parsed.spec);
    if (!result.success) {
      const issue = result.issues[0];
      const path = ["body", "spec", ...(issue.path ?? []).map((p) => String(p.key))].join(".");
      throw new ValidationError(path, issue.message);
    }
  }
  const resource: Resource = { kind, uid, spec: parsed.spec };
  if (parsed.metadata) {
    for (const key of SERVER_METADATA) {
      if (parsed.metadata[key] !== undefined) throw new ValidationError(`body.metadata.${key}`, "is set by reconcilers (and DELETE), not by clients");
    }
    // Revision and generation are the server's: ignored, like storage ignores a carried revision.
    const { revision: _revision, generation: _generation, ...rest } = parsed.metadata;
    resource.metadata = rest;
  }
  return resource;
}

function view(resource: Resource): ResourceView {
  const status = resource.status as { conditions?: Condition[] } | undefined;
  return {
    kind: resource.kind,
    uid: resource.uid,
    revision: resource.metadata?.revision ?? 0,
    generation: resource.metadata?.generation,
    metadata: resource.metadata,
    spec: resource.spec,
    status: resource.status,
    conditions: Array.isArray(status?.conditions) ? status.conditions : [],
  };
}

function viewOrNotFound(kind: string, uid: string, resource: Resource | undefined): Response {
  if (!resource) throw new HttpError(404, "ERR_NOT_FOUND", `${kind}/${uid} does not exist`);
  return json(200, view(resource), etag(resource.metadata?.revision ?? 0));
}

/** The Device kind's desired state, as examples/device-reconciler.ts reads it. */
export const DeviceSpecSchema = v.strictObject(
  {
    desired: v.picklist(["running", "stopped"], 'must be "running" or "stopped"'),
    config: v.optional(v.string("must be a string")),
  },
  'must be an object like {"desired": "running"} (fields: desired, config)',
);

export interface DeviceServiceOptions {
  /** Where the Device reconciler runs. Default "worker" (a thread pool). */
  isolation?: Isolation;
  workers?: number;
  logger?: Logger;
}

/** The embedding example end to end: bus, storage, controller and the app in one process. */
export interface DeviceService {
  readonly app: EmbedApp;
  readonly storage: Storage;
  readonly controller: Controller;
  /** Resolves once the controller has started and done its initial list (/readyz turns 200). */
  readonly ready: Promise<void>;
  /** Answers pending requests, then drains the controller and closes bus and storage. */
  close(): Promise<void>;
}

/**
 * Starts a controller for examples/device-reconciler.ts and returns the app at
 * once: /healthz answers while the controller is still starting, /readyz only
 * after. Serve `service.app.fetch` with any runtime's HTTP server.
 */
export function startDeviceService(options: DeviceServiceOptions = {}): DeviceService {
  const bus = new InMemoryEventBus(1000, 10);
  const storage = new InMemoryStorage();
  const metrics = new ControllerMetrics();
  const controller = new Controller(bus, storage, {
    workers: options.workers ?? 2,
    isolation: options.isolation ?? "worker",
    metrics,
    ...(options.logger ? { logger: options.logger } : {}),
  });
  let isReady = false;
  const app = createEmbedApp({ storage, kinds: ["Device"], specSchemas: { Device: DeviceSpecSchema }, metrics, isReady: () => isReady });
  const ready = (async () => {
    // The controller checks stored resources too (one written around the app gets Valid=False).
    await controller.registerReconciler(new URL("./device-reconciler.js", import.meta.url), { schema: v.looseObject({ spec: DeviceSpecSchema }) });
    await controller.start();
    isReady = true;
  })();
  // Callers may never await `ready`: a failed start must not become an unhandled rejection.
  ready.catch((error: unknown) => (options.logger ?? console).error({ err: error }, "device service failed to start"));
  let closed: Promise<void> | undefined;
  return {
    app,
    storage,
    controller,
    ready,
    close() {
      closed ??= (async () => {
        await app.close();
        isReady = false;
        await ready.catch(() => {});
        await controller.stop();
        await bus.close();
        await storage.close();
      })();
      return closed;
    },
  };
}
