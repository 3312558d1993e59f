// NATS on every runtime: a real JetStream-enabled nats-server (from PATH, or
// NATS_URL), reached through the @nats-io v3 clients.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { connect } from "@nats-io/transport-node";
import { NATS_INSTALL_HINT, NatsServer, natsServerOnPath } from "../helpers/nats-server.js";

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

// ---------------------------------------------------------------------------
// LEAD: once src/storage/kv-storage.ts and src/events/jetstream-event-bus.ts
// land, run the portable contracts against them here, e.g.
//
//   import { eventBusContract } from "./contract/event-bus-contract.js";
//   import { storageContract } from "./contract/storage-contract.js";
//   storageContract("KvStorage", async () => /* a fresh, EMPTY bucket per test on `url` */, (s) => /* close + delete bucket */);
//   eventBusContract("JetStreamEventBus", async () => /* a bus on `url` */, (bus) => bus.close());
//
// `url` is only known inside hooks and tests (it is set in `before`), so read it
// there, not at module top level. A fresh bucket/stream per test keeps the
// storage contract's "EMPTY storage" precondition. `bun test` gives each test 5 s
// by default: add `--timeout 20000` to test:portable:bun if a NATS check needs more.
// ---------------------------------------------------------------------------
