// The embedding example on Bun: Bun.serve calls the runtime-neutral app directly.
//   PORT=8080 bun examples/embed-bun.ts
//   curl -X PUT localhost:8080/resources/Device/dev-1 -d '{"spec":{"desired":"running","config":"default"}}'
//   curl 'localhost:8080/resources/Device/dev-1?wait=5000&after=1'
import { startDeviceService, type EmbedApp, type ServeOptions, type Served } from "./embed-app.js";

// The little of Bun's API used here (the project type-checks without bun-types).
interface BunServer {
  readonly port: number;
  stop(closeActiveConnections?: boolean): Promise<void> | void;
}

interface BunGlobal {
  serve(options: {
    port: number;
    hostname: string;
    /** Seconds a connection may stay silent; Bun's default (10) would cut long-polls short. */
    idleTimeout: number;
    fetch(request: Request): Promise<Response>;
  }): BunServer;
}

function bun(): BunGlobal {
  const runtime = (globalThis as { Bun?: BunGlobal }).Bun;
  if (!runtime) throw new Error("examples/embed-bun.ts needs Bun: run `bun examples/embed-bun.ts`");
  return runtime;
}

/** Serves `app` with Bun.serve. */
export function serveBun(app: EmbedApp, options: ServeOptions = {}): Served {
  const hostname = options.hostname ?? "127.0.0.1";
  const server = bun().serve({ port: options.port ?? 0, hostname, idleTimeout: 60, fetch: (request) => app.fetch(request) });
  return {
    url: `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${server.port}`,
    // Graceful: requests in flight finish (app.close() has answered the long-polls).
    close: async () => {
      await server.stop(false);
    },
  };
}

if ((import.meta as { main?: boolean }).main) {
  const service = startDeviceService();
  const served = serveBun(service.app, { port: Number(process.env.PORT ?? 8080), hostname: process.env.HOST ?? "127.0.0.1" });
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
