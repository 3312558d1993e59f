// The embedding example on Node: node:http in front of the runtime-neutral app.
//   npm run build && PORT=8080 node dist/examples/embed-node.js
//   curl -X PUT localhost:8080/resources/Device/dev-1 -d '{"spec":{"desired":"running","config":"default"}}'
//   curl 'localhost:8080/resources/Device/dev-1?wait=5000&after=1'
import { Buffer } from "node:buffer";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { pathToFileURL } from "node:url";
import { startDeviceService, type EmbedApp, type ServeOptions, type Served } from "./embed-app.js";

/** Serves `app` with node:http: each request becomes a web Request, each Response is written back. */
export async function serveNode(app: EmbedApp, options: ServeOptions = {}): Promise<Served> {
  const hostname = options.hostname ?? "127.0.0.1";
  const server = createServer((req, res) => {
    void handle(app, req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        // A connection still writing its answer (app.close() answered every
        // long-poll) finishes it; one a client keeps open past the grace is cut.
        const force = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
        server.close((error) => {
          clearTimeout(force);
          if (error) reject(error);
          else resolve();
        });
        // Idle keep-alive sockets would hold close() open.
        server.closeIdleConnections();
      }),
  };
}

/** How long close() lets connections still answering finish before it cuts them. */
const CLOSE_GRACE_MS = 2_000;

async function handle(app: EmbedApp, req: IncomingMessage, res: ServerResponse): Promise<void> {
  // The client leaving aborts the request's signal, which ends a long-poll.
  const left = new AbortController();
  res.once("close", () => {
    if (!res.writableFinished) left.abort();
  });
  try {
    const headers = new Headers();
    for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
    const hasBody = req.method !== "GET" && req.method !== "HEAD";
    const url = requestUrl(req.headers.host, req.url);
    if (url === undefined) {
      // A Host such as "a b" is the client's mistake: 400, not a TypeError turned 500.
      res.writeHead(400, { "content-type": "application/json; charset=utf-8" });
      res.end(JSON.stringify({ error: "ERR_BAD_REQUEST", message: `host: ${JSON.stringify(req.headers.host)} is not a valid host`, path: "host" }));
      return;
    }
    const request = new Request(url, {
      method: req.method,
      headers,
      signal: left.signal,
      ...(hasBody ? { body: Readable.toWeb(req) as unknown as ReadableStream<Uint8Array>, duplex: "half" } : {}),
    } as RequestInit);
    const response = await app.fetch(request);
    res.statusCode = response.status;
    response.headers.forEach((value, name) => res.setHeader(name, value));
    // The app's answers are small JSON documents: buffered, not streamed.
    res.end(req.method === "HEAD" ? undefined : Buffer.from(await response.arrayBuffer()));
  } catch (error) {
    if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: "ERR_INTERNAL", message: String((error as Error)?.message ?? error) }));
  }
}

/** The request's URL, or undefined when its Host header (or target) cannot form one. */
function requestUrl(host: string | undefined, target: string | undefined): string | undefined {
  const url = `http://${host ?? "localhost"}${target ?? "/"}`;
  try {
    return new URL(url).host === (host ?? "localhost").toLowerCase() ? url : undefined;
  } catch {
    return undefined;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const service = startDeviceService();
  const served = await serveNode(service.app, { port: Number(process.env.PORT ?? 8080), hostname: process.env.HOST ?? "127.0.0.1" });
  console.log(`converge device service on ${served.url}: GET /healthz /readyz /metrics /resources/Device[/:uid], PUT and DELETE /resources/Device/:uid`);
  // SIGTERM drains like Ctrl-C: pending long-polls are answered, then the server closes, then the controller stops.
  const shutdown = async () => {
    await service.app.close();
    await served.close();
    await service.close();
    console.log("converge device service stopped");
  };
  process.once("SIGINT", () => void shutdown());
  process.once("SIGTERM", () => void shutdown());
}
