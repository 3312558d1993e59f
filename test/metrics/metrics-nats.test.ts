// Reconnect counting against a real nats-server that is killed and restarted
// (its own server: the run's shared one must not go down).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsConnection } from "@nats-io/transport-node";
import { connectNats } from "../../src/nats.js";
import { ControllerMetrics } from "../../src/metrics/metrics.js";
import { NatsServer } from "../helpers/nats-server.js";

/** Resolves at the next status of `type` on `nc` (a listener of the test's own). */
function nextStatus(nc: NatsConnection, type: string): Promise<void> {
  const statuses = nc.status();
  return (async () => {
    for await (const s of statuses) if (s.type === type) return;
    throw new Error(`status stream ended before a ${type}`);
  })();
}

/** A turn for the metrics' own status listener, which the same dispatch fed. */
const turn = () => new Promise((resolve) => setTimeout(resolve, 0));

function natsLine(text: string, name: string): string | undefined {
  return text.split("\n").find((l) => l.startsWith(`${name} `));
}

describe("ControllerMetrics.watchNatsConnection", () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await NatsServer.start();
  });
  afterAll(async () => {
    await server.remove();
  });

  it("counts a disconnect and a reconnect across a server kill and restart, and shows the connection state", async () => {
    const nc = await connectNats({ servers: server.url, reconnectTimeWaitMs: 20 });
    const metrics = new ControllerMetrics();
    expect(metrics.prometheus()).not.toContain("converge_nats_");
    const unwatch = metrics.watchNatsConnection(nc);
    try {
      expect(metrics.snapshot().nats).toEqual({ connected: 1, disconnects: 0, reconnects: 0 });

      const disconnected = nextStatus(nc, "disconnect");
      await server.kill();
      await disconnected;
      await turn();
      expect(metrics.snapshot().nats).toEqual({ connected: 0, disconnects: 1, reconnects: 0 });
      expect(natsLine(metrics.prometheus(), "converge_nats_connected")).toBe("converge_nats_connected 0");

      const reconnected = nextStatus(nc, "reconnect");
      await server.restart();
      await reconnected;
      await turn();
      expect(metrics.snapshot().nats).toEqual({ connected: 1, disconnects: 1, reconnects: 1 });
      const text = metrics.prometheus();
      expect(natsLine(text, "converge_nats_reconnects_total")).toBe("converge_nats_reconnects_total 1");
      expect(natsLine(text, "converge_nats_disconnects_total")).toBe("converge_nats_disconnects_total 1");
      expect(natsLine(text, "converge_nats_connected")).toBe("converge_nats_connected 1");
    } finally {
      unwatch();
      await nc.close();
    }
  });

  it("shows a closed connection as not connected, and stops counting once unwatched", async () => {
    const metrics = new ControllerMetrics();
    const a = await connectNats({ servers: server.url, reconnectTimeWaitMs: 20 });
    const b = await connectNats({ servers: server.url, reconnectTimeWaitMs: 20 });
    metrics.watchNatsConnection(a);
    const unwatchB = metrics.watchNatsConnection(b);
    expect(metrics.snapshot().nats?.connected).toBe(2);
    const closing = a.closed();
    await a.close();
    await closing;
    await turn();
    expect(metrics.snapshot().nats?.connected).toBe(1);

    unwatchB();
    expect(metrics.snapshot().nats?.connected).toBe(0);
    const disconnected = nextStatus(b, "disconnect");
    const reconnected = nextStatus(b, "reconnect");
    try {
      await server.kill();
      await disconnected;
      await server.restart();
      await reconnected;
      await turn();
      expect(metrics.snapshot().nats).toEqual({ connected: 0, disconnects: 0, reconnects: 0 });
    } finally {
      await b.close();
    }
  });

  it("rejects something that is not a connection", () => {
    expect(() => new ControllerMetrics().watchNatsConnection({} as NatsConnection)).toThrow(/nats connection: must have a status\(\) method/);
  });
});
