// What converge leaves on a NATS server: retention limits on the event
// streams, no consumer of ours after a clean close, and subscriptions that
// survive their stream being wiped. Real servers.
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import { Controller, ValidationError, silentLogger } from "../../src/index.js";
import { JetStreamEventBus, KvStorage, connectNats, type JetStreamEventBusOptions } from "../../src/nats.js";
import { Counting, type Thing } from "../fixtures/counting-reconciler.js";
import { untilAll } from "../helpers/converged.js";
import { event, recorder } from "../contract/event-bus-contract.js";
import { NatsServer } from "../helpers/nats-server.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

async function ownServer(): Promise<{ server: NatsServer; nc: NatsConnection; jsm: JetStreamManager }> {
  const server = await NatsServer.start();
  const nc = await connectNats({ servers: server.url, reconnectTimeWaitMs: 50 });
  cleanups.push(async () => {
    await nc.close();
    await server.remove();
  });
  return { server, nc, jsm: await jetstreamManager(nc) };
}

function bus(nc: NatsConnection, options: JetStreamEventBusOptions = {}): JetStreamEventBus {
  const b = new JetStreamEventBus(nc, { stream: "EV", subjectPrefix: "ev", deadLetterSubject: "evdlq", logger: silentLogger, ...options });
  cleanups.push(() => b.close());
  return b;
}

async function consumersOf(jsm: JetStreamManager, stream: string): Promise<string[]> {
  const names: string[] = [];
  for await (const c of jsm.consumers.list(stream)) names.push(c.name);
  return names;
}

const HOUR_NS = 3_600_000_000_000;

describe("JetStreamEventBus retention and replicas", () => {
  it("creates both streams with retention limits: defaults, or the ones configured", async () => {
    const { nc, jsm } = await ownServer();
    await bus(nc).start();
    for (const name of ["EV", "EV_DLQ"]) {
      const { config } = await jsm.streams.info(name);
      expect(config).toMatchObject({ max_age: 24 * HOUR_NS, max_bytes: 1024 ** 3, max_msgs: 1_000_000, num_replicas: 1 });
    }
    await bus(nc, { stream: "EV2", subjectPrefix: "ev2", deadLetterSubject: "ev2dlq", maxAgeMs: 3_600_000, maxBytes: 5_000_000, maxMsgs: 10 }).start();
    expect((await jsm.streams.info("EV2")).config).toMatchObject({ max_age: HOUR_NS, max_bytes: 5_000_000, max_msgs: 10 });
  });

  it("gives a stream without limits (an older version's) the defaults, keeps an operator's limit unless one is configured", async () => {
    const { nc, jsm } = await ownServer();
    await jsm.streams.add({ name: "EV", subjects: ["ev.>"] });
    await jsm.streams.add({ name: "EV_DLQ", subjects: ["evdlq.>"], max_msgs: 50 });
    await bus(nc).start();
    expect((await jsm.streams.info("EV")).config).toMatchObject({ max_age: 24 * HOUR_NS, max_bytes: 1024 ** 3, max_msgs: 1_000_000 });
    expect((await jsm.streams.info("EV_DLQ")).config).toMatchObject({ max_msgs: 50, max_bytes: 1024 ** 3 });
    await bus(nc, { maxMsgs: 70 }).start();
    expect((await jsm.streams.info("EV_DLQ")).config.max_msgs).toBe(70);
  });

  it("refuses bad replicas and limits, naming the option", async () => {
    const { nc } = await ownServer();
    const cases: [JetStreamEventBusOptions, string][] = [
      [{ replicas: 0 }, "options.replicas"],
      [{ replicas: 6 }, "options.replicas"],
      [{ replicas: 1.5 }, "options.replicas"],
      [{ replicas: "3" as unknown as number }, "options.replicas"],
      [{ maxAgeMs: -1 }, "options.maxAgeMs"],
      [{ maxBytes: -2 }, "options.maxBytes"],
      [{ maxMsgs: Number.NaN }, "options.maxMsgs"],
    ];
    for (const [options, path] of cases) {
      let error: unknown;
      try {
        new JetStreamEventBus(nc, options);
      } catch (e) {
        error = e;
      }
      expect(error, JSON.stringify(options)).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).path).toBe(path);
    }
  });
});

describe("no NATS state of ours left after a clean stop", () => {
  it("close() of the bus and the storage leaves no consumer on the event stream or the bucket", async () => {
    const { nc, jsm } = await ownServer();
    const b = bus(nc);
    const rec = recorder();
    await b.subscribe("a.*", rec.handler);
    await b.subscribe("b.*", () => {});
    await b.start();
    const storage = await KvStorage.open(nc, { bucket: "left", logger: silentLogger });
    const watches = [storage.watch(), storage.watch("Device")].map((w) => w[Symbol.asyncIterator]());
    await storage.save("Device", "d1", { kind: "Device", uid: "d1", spec: {} });
    await watches[0].next();
    await storage.loadAll("Device");
    await b.publish(event("a.e"));
    await rec.count(1);
    expect((await consumersOf(jsm, "KV_left")).length).toBeGreaterThan(0);
    expect((await consumersOf(jsm, "EV")).length).toBeGreaterThan(0);

    await storage.close();
    await b.close();
    expect(await consumersOf(jsm, "KV_left")).toEqual([]);
    expect(await consumersOf(jsm, "EV")).toEqual([]);
  });

  it("a controller stopped cleanly, with its bus and storage closed, leaves no consumer behind", async () => {
    const { nc, jsm } = await ownServer();
    const b = bus(nc);
    const storage = await KvStorage.open(nc, { bucket: "ctl", logger: silentLogger });
    const controller = new Controller(b, storage, { isolation: "inline", workers: 2, logger: silentLogger });
    await controller.registerReconciler(new Counting("Thing"));
    await controller.start();
    await storage.save("Thing", "t1", { kind: "Thing", uid: "t1", spec: { value: 1 } });
    await untilAll<Thing>(storage, "Thing", ["t1"], (t) => t.status?.seen === 1);
    expect((await consumersOf(jsm, "KV_ctl")).length).toBeGreaterThan(0);
    await controller.stop();
    await b.close();
    await storage.close();
    expect(await consumersOf(jsm, "KV_ctl")).toEqual([]);
    expect(await consumersOf(jsm, "EV")).toEqual([]);
  });

  it("a KV watch consumer left by a crash has a short inactivity threshold", async () => {
    const { nc, jsm } = await ownServer();
    const storage = await KvStorage.open(nc, { bucket: "crash", logger: silentLogger });
    cleanups.push(() => storage.close());
    const watch = storage.watch()[Symbol.asyncIterator]();
    await storage.save("Device", "d1", { kind: "Device", uid: "d1", spec: {} });
    await watch.next();
    const [name] = await consumersOf(jsm, "KV_crash");
    expect((await jsm.consumers.info("KV_crash", name)).config.inactive_threshold).toBe(10_000_000_000);
  });
});

/** Stops the server, deletes everything in its store, and starts it again on the same port. */
async function wipe(server: NatsServer): Promise<void> {
  await server.stop();
  for (const entry of readdirSync(server.storeDir)) rmSync(join(server.storeDir, entry), { recursive: true, force: true });
  await server.restart();
}

describe("a bus whose stream was wiped", () => {
  it("a publisher creates the stream again (with its limits) instead of failing every publish", async () => {
    const { server, nc, jsm } = await ownServer();
    const b = bus(nc, { publishTimeoutMs: 500, publishAttempts: 8, maxMsgs: 500 });
    await b.publish(event("p.before"));
    await wipe(server);
    await b.publish(event("p.after"));
    const info = await jsm.streams.info("EV");
    expect(info.state.messages).toBe(1);
    expect(info.config.max_msgs).toBe(500);
  });

  it("a subscription keeps delivering new events after nats-server restarts with an empty store (ephemeral and durable)", async () => {
    const { server, nc } = await ownServer();
    const b = bus(nc, { publishTimeoutMs: 500, publishAttempts: 40 });
    const ephemeral = recorder();
    const durable = recorder();
    await b.subscribe("w.*", ephemeral.handler);
    await b.subscribe("w.*", durable.handler, { durable: "keeper" });
    await b.start();
    for (let i = 0; i < 30; i++) await b.publish(event("w.before", i));
    await ephemeral.count(30);
    await durable.count(30);

    await wipe(server);

    for (let i = 0; i < 5; i++) await b.publish(event("w.after", i));
    const after = (events: readonly { type: string }[]) => events.filter((e) => e.type === "w.after").length === 5;
    await ephemeral.until(after, "the ephemeral subscription's events after the wipe");
    await durable.until(after, "the durable subscription's events after the wipe");
  });
});
