// A small HTTP service around an in-process controller, written once against the
// web-standard Request/Response: Bun.serve and Deno.serve call `app.fetch`
// directly, and examples/embed-node.ts adapts node:http to it (like hono).
//
//   GET  /healthz                      200 while the process serves
//   GET  /readyz                       200 once the controller started and listed, else 503
//   GET  /resources/:kind/:uid         spec, status, conditions (404 when missing);
//        ?wait=<ms>&after=<revision>   long-poll: answers once the revision exceeds `after`
//                                      (default: the current one), or after `wait` ms
//   PUT  /resources/:kind/:uid         desired state: {"spec": …, "metadata"?: {labels…}};
//                                      `If-Match: "<revision>"` makes it compare-and-swap
import {
  ConflictError,
  Controller,
  InMemoryEventBus,
  InMemoryStorage,
  StorageClient,
  StorageClosedError,
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

export interface EmbedAppOptions {
  storage: Storage;
  /** Kinds served (those a reconciler is registered for); others answer 404. */
  kinds: readonly string[];
  /** True once the controller has started and done its initial list. */
  isReady: () => boolean;
  /** Longest `?wait=` honoured, in ms (longer ones are cut to it). Default 30 000. */
  maxWaitMs?: number;
  /** Largest PUT body accepted, in bytes. Default 1 MiB. */
  maxBodyBytes?: number;
}

export interface EmbedApp {
  fetch(request: Request): Promise<Response>;
  /** Answers pending long-polls now and every later request with 503, so servers can close at once. */
  close(): void;
}

/** Where and how a runtime adapter (embed-node/-bun/-deno) listens. */
export interface ServeOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1 (loopback only). */
  hostname?: string;
}

/** A listening server: where it is and how to stop it. Call `app.close()` first to answer pending long-polls. */
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
const PUT_RETRIES = 5;

/** An answer with a status, decided while handling a request. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly path?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export function createEmbedApp(options: EmbedAppOptions): EmbedApp {
  const { storage, isReady } = options;
  const kinds = new Set(options.kinds);
  const maxWaitMs = options.maxWaitMs ?? 30_000;
  const maxBodyBytes = options.maxBodyBytes ?? 1 << 20;
  const client = new StorageClient(storage);
  // Aborted by close(): every pending long-poll answers at once.
  const closing = new AbortController();

  async function route(request: Request): Promise<Response> {
    if (closing.signal.aborted) throw new HttpError(503, "ERR_CLOSING", "the service is shutting down");
    const url = new URL(request.url);
    const path = url.pathname;
    if (path === "/healthz") return only(request, "GET", () => json(200, { status: "ok" }));
    if (path === "/readyz") {
      return only(request, "GET", () => (isReady() ? json(200, { status: "ready" }) : json(503, { status: "starting" })));
    }
    const parts = path.split("/");
    if (parts.length === 4 && parts[0] === "" && parts[1] === "resources") {
      const kind = assertKind(decodeSegment(parts[2], "kind"), "kind");
      const uid = assertUid(decodeSegment(parts[3], "uid"), "uid");
      if (!kinds.has(kind)) throw new HttpError(404, "ERR_UNKNOWN_KIND", `no reconciler serves kind ${kind} (served: ${[...kinds].join(", ")})`, "kind");
      if (request.method === "GET") return get(kind, uid, url.searchParams, request.signal);
      if (request.method === "PUT") return put(kind, uid, request);
      throw new HttpError(405, "ERR_METHOD", `${request.method} is not allowed here`, undefined, { allow: "GET, PUT" });
    }
    throw new HttpError(404, "ERR_NOT_FOUND", `no route for ${request.method} ${path}`);
  }

  async function get(kind: string, uid: string, query: URLSearchParams, requestSignal: AbortSignal): Promise<Response> {
    const wait = query.has("wait") ? Math.min(nonNegativeInteger(query.get("wait"), "query.wait"), maxWaitMs) : 0;
    const after = query.has("after") ? nonNegativeInteger(query.get("after"), "query.after") : undefined;
    if (wait === 0) return viewOrNotFound(kind, uid, await storage.load(kind, uid));

    // Not AbortSignal.timeout: Node unrefs its timer, and a pending answer must keep the process alive.
    const done = new AbortController();
    const timer = setTimeout(() => done.abort(), wait);
    // Watch before loading: a write between the two is seen, never missed.
    const changes = storage.watch(kind, { signal: AbortSignal.any([done.signal, requestSignal, closing.signal]) });
    try {
      const current = await storage.load(kind, uid);
      const threshold = after ?? current?.metadata?.revision ?? 0;
      if (current && (current.metadata?.revision ?? 0) > threshold) return viewOrNotFound(kind, uid, current);
      for await (const change of changes) {
        if (change.uid !== uid || change.revision <= threshold) continue;
        return viewOrNotFound(kind, uid, change.type === "put" ? change.value : undefined);
      }
      // Waited long enough (or the client left): the current state.
      return viewOrNotFound(kind, uid, await storage.load(kind, uid));
    } finally {
      clearTimeout(timer);
      done.abort();
    }
  }

  async function put(kind: string, uid: string, request: Request): Promise<Response> {
    const body = await readJsonBody(request, maxBodyBytes);
    const desired = desiredResource(kind, uid, body);
    const ifMatch = parseIfMatch(request.headers.get("if-match"));
    for (let attempt = 1; ; attempt++) {
      const current = await storage.load(kind, uid);
      try {
        if (!current) {
          if (ifMatch !== undefined) throw new HttpError(412, "ERR_PRECONDITION", `${kind}/${uid} does not exist, so If-Match cannot hold`);
          const created = await client.create(desired);
          return json(201, view(created), etag(created.metadata?.revision ?? 0));
        }
        // update() keeps the stored status and bumps generation when the spec changed.
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

  return {
    async fetch(request: Request): Promise<Response> {
      try {
        return await route(request);
      } catch (error) {
        return errorResponse(error);
      }
    },
    close(): void {
      closing.abort();
    },
  };
}

/** The stored resource for a PUT body: `spec` and optional `metadata`; kind and uid come from the path. */
function desiredResource(kind: string, uid: string, body: unknown): Resource {
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
  const resource: Resource = { kind, uid, spec: parsed.spec };
  if (parsed.metadata) {
    // Revision and generation are the server's: ignored, like storage ignores a carried revision.
    const { revision: _revision, generation: _generation, ...rest } = parsed.metadata;
    resource.metadata = rest;
  }
  return resource;
}

async function readJsonBody(request: Request, maxBytes: number): Promise<unknown> {
  // Parsed as JSON whatever the content-type says (curl -d sends form-urlencoded).
  const declared = Number(request.headers.get("content-length") ?? 0);
  if (declared > maxBytes) throw new HttpError(413, "ERR_TOO_LARGE", `body is ${declared} bytes; at most ${maxBytes} are accepted`);
  // Read with a running count: a body without content-length is cut off at the limit too.
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (request.body) {
    const reader = request.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel();
        throw new HttpError(413, "ERR_TOO_LARGE", `body exceeds ${maxBytes} bytes`);
      }
      chunks.push(value);
    }
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  const text = new TextDecoder().decode(bytes);
  if (text.trim() === "") throw new ValidationError("body", 'is empty; send JSON like {"spec": {…}}');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ValidationError("body", `is not valid JSON: ${(error as Error).message}`);
  }
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

function only(request: Request, method: string, answer: () => Response): Response {
  if (request.method !== method && !(method === "GET" && request.method === "HEAD")) {
    throw new HttpError(405, "ERR_METHOD", `${request.method} is not allowed here`, undefined, { allow: method });
  }
  return answer();
}

function decodeSegment(segment: string, path: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new ValidationError(path, `${JSON.stringify(segment)} is not valid percent-encoding`);
  }
}

function nonNegativeInteger(value: string | null, path: string): number {
  const n = Number(value);
  if (value === null || !/^\d+$/.test(value) || !Number.isSafeInteger(n)) {
    throw new ValidationError(path, `${JSON.stringify(value)} must be a non-negative integer`);
  }
  return n;
}

/** `"12"`, `12` or `W/"12"` -> 12; absent -> undefined. */
function parseIfMatch(header: string | null): number | undefined {
  if (header === null) return undefined;
  const match = /^\s*(?:W\/)?"?(\d+)"?\s*$/.exec(header);
  if (!match) throw new ValidationError("if-match", `${JSON.stringify(header)} must be a revision such as "12"`);
  return Number(match[1]);
}

function etag(revision: number): Record<string, string> {
  return { etag: `"${revision}"` };
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers },
  });
}

function errorResponse(error: unknown): Response {
  if (error instanceof HttpError) {
    return json(error.status, { error: error.code, message: error.message, ...(error.path ? { path: error.path } : {}) }, error.headers);
  }
  if (error instanceof ValidationError) return json(400, { error: error.code, message: error.message, path: error.path });
  if (error instanceof StorageClosedError) return json(503, { error: error.code, message: "the service is shutting down" });
  return json(500, { error: "ERR_INTERNAL", message: String((error as Error)?.message ?? error) });
}

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
  /** Stops answering, drains the controller, closes bus and storage. */
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
  const controller = new Controller(bus, storage, {
    workers: options.workers ?? 2,
    isolation: options.isolation ?? "worker",
    ...(options.logger ? { logger: options.logger } : {}),
  });
  let isReady = false;
  const app = createEmbedApp({ storage, kinds: ["Device"], isReady: () => isReady });
  const ready = (async () => {
    await controller.registerReconciler(new URL("./device-reconciler.js", import.meta.url));
    await controller.start();
    isReady = true;
  })();
  // Callers may never await `ready`: a failed start must not become an unhandled rejection.
  ready.catch((error) => (options.logger ?? console).error("device service failed to start:", error));
  let closed: Promise<void> | undefined;
  return {
    app,
    storage,
    controller,
    ready,
    close() {
      closed ??= (async () => {
        app.close();
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
