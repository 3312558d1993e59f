// The embedding example on Deno: Deno.serve calls the runtime-neutral app directly.
//   PORT=8080 deno run -A examples/embed-deno.ts
//   curl -X PUT localhost:8080/resources/Device/dev-1 -d '{"spec":{"desired":"running","config":"default"}}'
//   curl 'localhost:8080/resources/Device/dev-1?wait=5000&after=1'
import { startDeviceService, type EmbedApp, type ServeOptions, type Served } from "./embed-app.js";

// The little of Deno's API used here (the project type-checks with Node's types only).
interface DenoServer {
  readonly addr: { hostname: string; port: number };
  /** Graceful: waits for requests in flight (app.close() answers pending long-polls first). */
  shutdown(): Promise<void>;
}

interface DenoGlobal {
  serve(
    options: { port: number; hostname: string; onListen?: (addr: { hostname: string; port: number }) => void },
    handler: (request: Request) => Promise<Response>,
  ): DenoServer;
  env: { get(name: string): string | undefined };
  addSignalListener(signal: "SIGINT" | "SIGTERM", handler: () => void): void;
  removeSignalListener(signal: "SIGINT" | "SIGTERM", handler: () => void): void;
}

function deno(): DenoGlobal {
  const runtime = (globalThis as { Deno?: DenoGlobal }).Deno;
  if (!runtime) throw new Error("examples/embed-deno.ts needs Deno: run `deno run -A examples/embed-deno.ts`");
  return runtime;
}

/** Serves `app` with Deno.serve. */
export function serveDeno(app: EmbedApp, options: ServeOptions = {}): Served {
  const hostname = options.hostname ?? "127.0.0.1";
  // onListen replaces Deno's own "Listening on …" line: the caller says where it listens.
  const server = deno().serve({ port: options.port ?? 0, hostname, onListen: () => {} }, (request) => app.fetch(request));
  return {
    url: `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${server.addr.port}`,
    close: () => server.shutdown(),
  };
}

if ((import.meta as { main?: boolean }).main) {
  const env = deno().env;
  const service = startDeviceService();
  const served = serveDeno(service.app, { port: Number(env.get("PORT") ?? 8080), hostname: env.get("HOST") ?? "127.0.0.1" });
  console.log(`converge device service on ${served.url}: GET /healthz /readyz /metrics /resources/Device[/:uid], PUT and DELETE /resources/Device/:uid`);
  const shutdown = async () => {
    // A signal listener keeps Deno running: remove both, then let the process end on its own.
    deno().removeSignalListener("SIGINT", onSignal);
    deno().removeSignalListener("SIGTERM", onSignal);
    await service.app.close();
    await served.close();
    await service.close();
    console.log("converge device service stopped");
  };
  const onSignal = () => void shutdown();
  deno().addSignalListener("SIGINT", onSignal);
  deno().addSignalListener("SIGTERM", onSignal);
}
