// NATS on every runtime: a real JetStream-enabled nats-server (from PATH, or
// NATS_URL), reached through the @nats-io v3 clients.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { connectNats, JetStreamEventBus, KvStorage } from "../../src/nats.js";
import { NATS_INSTALL_HINT, NatsServer, natsServerOnPath } from "../helpers/nats-server.js";
import { eventBusContract } from "./contract/event-bus-contract.js";
import { storageContract } from "./contract/storage-contract.js";
import { runtime } from "./harness.js";

let server: NatsServer | undefined;
let url = "";

before(async () => {
  if (process.env.NATS_URL) url = process.env.NATS_URL;
  else if (natsServerOnPath()) {
    server = await NatsServer.start();
    url = server.url;
  } else throw new Error(NATS_INSTALL_HINT);
});

after(async () => {
  await server?.remove();
});

describe("nats-server", () => {
  it("is reachable with JetStream through @nats-io/transport-node", async () => {
    const nc = await connect({ servers: url });
    try {
      assert.equal(nc.info?.jetstream, true);
      const sub = nc.subscribe("portable.ping", { max: 1 });
      nc.publish("portable.ping", "pong");
      for await (const m of sub) assert.equal(m.string(), "pong");
    } finally {
      await nc.close();
    }
  });
});

// The same promises as the in-memory backends, on JetStream + KV: a fresh
// bucket and stream per test keeps the "empty storage" precondition.
let nc: NatsConnection | undefined;
let serial = 0;
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

async function connection(): Promise<NatsConnection> {
  nc ??= await connectNats({ servers: url });
  return nc;
}

function fresh(): string {
  return `portable_${runtime()}_${process.pid}_${Date.now().toString(36)}_${serial++}`;
}

after(async () => {
  await nc?.close();
});

storageContract(
  "KvStorage",
  // history 64: see test/storage/kv-storage.test.ts (a lagging watch and history 1).
  async () => KvStorage.open(await connection(), { bucket: fresh(), history: 64, logger: quiet }),
  async (storage) => {
    await storage.close();
    const { bucket } = storage as KvStorage;
    await new Kvm(await connection()).open(bucket).then((kv) => kv.destroy()).catch(() => {});
  },
);

eventBusContract(
  "JetStreamEventBus",
  async () => {
    const name = fresh();
    return new JetStreamEventBus(await connection(), {
      stream: name.toUpperCase(),
      subjectPrefix: `portable.${name}`,
      deadLetterSubject: `portable_dlq.${name}`,
      logger: quiet,
    });
  },
  async (bus) => {
    await bus.close();
    const jsm = await jetstreamManager(await connection());
    for (const stream of [bus.stream, bus.deadLetterStream]) await jsm.streams.delete(stream).catch(() => {});
  },
);
