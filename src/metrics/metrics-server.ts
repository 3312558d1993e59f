import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { ConvergeError, ValidationError } from "../codec/errors.js";
import { PROMETHEUS_CONTENT_TYPE } from "./metrics-exposition.js";

/** What /metrics and /metrics.json read (ControllerMetrics fits). */
export interface MetricsSource {
  prometheus(): string;
  snapshot(): unknown;
}

/** What /healthz and /readyz read (HealthState fits). */
export interface HealthSource {
  readonly live: boolean;
  readonly ready: boolean;
  readonly reason?: string;
}

export interface MetricsEndpoints {
  metrics: MetricsSource;
  /** Without it /healthz and /readyz are not served (404). */
  health?: HealthSource;
}

export interface ServeMetricsOptions extends MetricsEndpoints {
  /** 0 picks a free port (see `MetricsServer.port`). */
  port: number;
  /** Default 127.0.0.1: metrics are not for the whole network unless you say so. */
  host?: string;
}

export interface MetricsServer {
  /** e.g. `http://127.0.0.1:9464` */
  readonly url: string;
  readonly port: number;
  /** Stops listening and drops open (keep-alive) connections. */
  close(): Promise<void>;
}

/** The metrics server could not listen (port in use, no such address). */
export class MetricsServerError extends ConvergeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_METRICS_SERVER", message, options);
  }
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const TEXT = "text/plain; charset=utf-8";
const encoder = new TextEncoder();
const ROUTES = new Set(["/metrics", "/metrics.json", "/healthz", "/readyz"]);

/**
 * The answer to one request: GET (or HEAD) /metrics is Prometheus text,
 * /metrics.json the snapshot, /healthz 200 while live, /readyz 200 when ready;
 * 503 when not, 404 for other paths, 405 for other methods.
 */
function route(method: string, pathname: string, endpoints: MetricsEndpoints): Answer {
  if (!ROUTES.has(pathname) || (endpoints.health === undefined && (pathname === "/healthz" || pathname === "/readyz"))) {
    return text(404, `no such endpoint: ${pathname}\n`);
  }
  if (method !== "GET" && method !== "HEAD") {
    const answer = text(405, `${method} is not allowed; use GET\n`);
    answer.headers.allow = "GET, HEAD";
    return answer;
  }
  try {
    switch (pathname) {
      case "/metrics":
        return { status: 200, headers: { "content-type": PROMETHEUS_CONTENT_TYPE }, body: endpoints.metrics.prometheus() };
      case "/metrics.json":
        return { status: 200, headers: { "content-type": "application/json; charset=utf-8" }, body: `${JSON.stringify(endpoints.metrics.snapshot())}\n` };
      case "/healthz": {
        const health = endpoints.health!;
        return health.live ? text(200, "ok\n") : text(503, `not live: ${health.reason || "unknown"}\n`);
      }
      default: {
        const health = endpoints.health!;
        return health.ready ? text(200, "ready\n") : text(503, `not ready: ${health.reason || "unknown"}\n`);
      }
    }
  } catch (error) {
    return text(500, `reading ${pathname} failed: ${error instanceof Error ? error.message : String(error)}\n`);
  }
}

function text(status: number, body: string): Answer {
  return { status, headers: { "content-type": TEXT }, body };
}

/**
 * The endpoints as a web-standard handler, for a server you already run
 * (`Bun.serve`, `Deno.serve`, a fetch router): `undefined` for paths that are
 * not metrics or health, so the caller can route them elsewhere.
 */
export function metricsFetchHandler(endpoints: MetricsEndpoints): (request: Request) => Response | undefined {
  checkEndpoints(endpoints);
  return (request) => {
    const { pathname } = new URL(request.url);
    if (!ROUTES.has(pathname)) return undefined;
    const answer = route(request.method, pathname, endpoints);
    return new Response(request.method === "HEAD" ? null : answer.body, { status: answer.status, headers: { ...answer.headers, "cache-control": "no-store" } });
  };
}

/**
 * Serves /metrics, /metrics.json, /healthz and /readyz over node:http (which
 * Node, Bun and Deno all implement). Resolves once listening.
 */
export async function serveMetrics(options: ServeMetricsOptions): Promise<MetricsServer> {
  if (options === null || typeof options !== "object") throw new ValidationError("serveMetrics options", "must be an object");
  const { port, host = "127.0.0.1" } = options;
  if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ValidationError("serveMetrics options.port", `must be an integer in 0..65535, got ${String(port)}`);
  }
  if (typeof host !== "string" || host === "") throw new ValidationError("serveMetrics options.host", "must be a non-empty string");
  checkEndpoints(options);
  const endpoints: MetricsEndpoints = { metrics: options.metrics, health: options.health };

  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const method = request.method ?? "GET";
    const pathname = (request.url ?? "/").split("?", 1)[0];
    const answer = route(method, pathname, endpoints);
    response.writeHead(answer.status, { ...answer.headers, "cache-control": "no-store", "content-length": encoder.encode(answer.body).byteLength });
    response.end(method === "HEAD" ? undefined : answer.body);
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => reject(new MetricsServerError(`cannot listen on ${host}:${port}: ${error.message}`, { cause: error }));
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
  const address = server.address();
  const bound = typeof address === "object" && address !== null ? address.port : port;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${bound}`,
    port: bound,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Without this a scraper's keep-alive connection holds close() open.
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      return closing;
    },
  };
}

function checkEndpoints(endpoints: MetricsEndpoints): void {
  const metrics = endpoints?.metrics;
  if (metrics === null || typeof metrics !== "object" || typeof metrics.prometheus !== "function" || typeof metrics.snapshot !== "function") {
    throw new ValidationError("metrics", "must have prometheus() and snapshot() (a ControllerMetrics)");
  }
  const health = endpoints.health;
  if (health !== undefined && (health === null || typeof health !== "object" || !("live" in health) || !("ready" in health))) {
    throw new ValidationError("health", "must have live and ready (a HealthState)");
  }
}
