// Vitest globalSetup: one JetStream-enabled nats-server for the whole run, on a
// free port with a temporary store, stopped at the end. NATS_URL, when set, is
// used instead. Without either, NATS suites fail with the install hint (`npm test`
// first runs ensure-nats-server.mjs, which installs Debian's package as root).
import type { TestProject } from "vitest/node";
import { NATS_INSTALL_HINT, NatsServer, natsServerOnPath } from "../helpers/nats-server.js";

declare module "vitest" {
  export interface ProvidedContext {
    natsUrl: string;
    natsUnavailable: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (process.env.NATS_URL) {
    project.provide("natsUrl", process.env.NATS_URL);
    project.provide("natsUnavailable", "");
    return async () => {};
  }
  if (!natsServerOnPath()) {
    project.provide("natsUrl", "");
    project.provide("natsUnavailable", NATS_INSTALL_HINT);
    return async () => {};
  }
  const server = await NatsServer.start();
  project.provide("natsUrl", server.url);
  project.provide("natsUnavailable", "");
  return async () => {
    await server.remove();
    // A test that failed on a server-side error shows only the client's view;
    // the server's reason is here.
    if (server.problems.length > 0) {
      console.warn(`nats-server (shared by the suites) logged:\n${server.problems.join("\n")}`);
    }
  };
}
