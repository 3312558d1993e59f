import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterEach, describe, expect, it } from "vitest";
import { Controller, newResourceEvent, silentLogger, type CloudEvent } from "../../src/index.js";
import { JetStreamEventBus, KvStorage, connectNats } from "../../src/nats.js";
import { readRunLog, type ChaosResource } from "../fixtures/chaos-reconciler.js";
import { distUrl, untilAll } from "../helpers/converged.js";
import { natsUrl } from "../helpers/nats.js";
import { NatsServer } from "../helpers/nats-server.js";
import { pollUntil } from "../helpers/poll.js";

const CHAOS = distUrl("test/fixtures/chaos-reconciler.js");

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

let unique = 0;
function names() {
  const id = `${process.pid}_${Date.now().toString(36)}_${unique++}`;
  return { bucket: `conv_${id}`, stream: `CONV_${id}`, subjectPrefix: `conv.${id}`, deadLetterSubject: `convdlq.${id}` };
}

async function backends(nc: NatsConnection, n: ReturnType<typeof names>) {
  const bus = new JetStreamEventBus(nc, { stream: n.stream, subjectPrefix: n.subjectPrefix, deadLetterSubject: n.deadLetterSubject, logger: silentLogger });
  const storage = await KvStorage.open(nc, { bucket: n.bucket, logger: silentLogger });
  return { bus, storage };
}

async function dropNames(nc: NatsConnection, n: ReturnType<typeof names>) {
  await new Kvm(nc).open(n.bucket).then((kv) => kv.destroy()).catch(() => {});
  const jsm = await jetstreamManager(nc);
  for (const stream of [n.stream, `${n.stream}_DLQ`]) await jsm.streams.delete(stream).catch(() => {});
}

function chaos(uid: string, spec: Partial<ChaosResource["spec"]> = {}): ChaosResource {
  return { kind: "Chaos", uid, spec: { mode: "ok", ...spec } };
}

const isDone = (r: ChaosResource) => r.status?.done === true;

describe("Controller on NATS (JetStream bus + KV storage)", () => {
  it("a controller stopped and started again against the same NATS reconverges with nothing lost", async () => {
    const nc = await connectNats({ servers: natsUrl() });
    const n = names();
    cleanups.push(async () => {
      await dropNames(nc, n);
      await nc.close();
    });
    const uids = Array.from({ length: 100 }, (_, i) => `d${i}`);
    {
      const { bus, storage } = await backends(nc, n);
      const controller = new Controller(bus, storage, { workers: 2, logger: silentLogger });
      await controller.registerReconciler(CHAOS);
      await controller.start();
      await Promise.all(uids.map((uid) => storage.save("Chaos", uid, chaos(uid))));
      await untilAll<ChaosResource>(storage, "Chaos", uids, isDone);
      await controller.stop();
      // While no controller runs: new resources, and old ones whose status is reset.
      for (let i = 0; i < 20; i++) await storage.save("Chaos", `late${i}`, chaos(`late${i}`));
      for (const uid of uids.slice(0, 30)) await storage.save("Chaos", uid, chaos(uid, { work: 1 }));
      await bus.close();
      await storage.close();
    }
    const { bus, storage } = await backends(nc, n);
    const controller = new Controller(bus, storage, { workers: 2, logger: silentLogger });
    await controller.registerReconciler(CHAOS);
    cleanups.push(async () => {
      await controller.stop();
      await bus.close();
      await storage.close();
    });
    await controller.start();
    const all = [...uids, ...Array.from({ length: 20 }, (_, i) => `late${i}`)];
    await untilAll<ChaosResource>(storage, "Chaos", all, isDone);
    expect((await storage.list("Chaos")).length).toBe(120);
  });

  it("survives nats-server being SIGKILLed and restarted mid-run: every device converges, no event lost, no key run twice at once", async () => {
    const server = await NatsServer.start();
    const dir = mkdtempSync(join(tmpdir(), "converge-kill-"));
    const log = join(dir, "runs.log");
    const nc = await connectNats({ servers: server.url, reconnectTimeWaitMs: 50 });
    const n = names();
    const { bus, storage } = await backends(nc, n);
    const controller = new Controller(bus, storage, { workers: 2, logger: silentLogger });
    await controller.registerReconciler(CHAOS);
    cleanups.push(async () => {
      await controller.stop();
      await bus.close();
      await storage.close();
      await nc.close();
      await server.remove();
      rmSync(dir, { recursive: true, force: true });
    });

    const uids = Array.from({ length: 2000 }, (_, i) => `dev${i}`);
    for (let i = 0; i < uids.length; i += 200) {
      await Promise.all(uids.slice(i, i + 200).map((uid) => storage.save("Chaos", uid, chaos(uid, { log }))));
    }
    // An independent durable subscriber: every event whose publish was acknowledged must reach it.
    const received = new Set<string>();
    await bus.subscribe("io.test.ping", (event: CloudEvent) => void received.add(event.id), { durable: `pings_${unique}` });
    const acknowledged: string[] = [];
    const publishSome = async (count: number) => {
      for (let i = 0; i < count; i++) {
        const event = newResourceEvent("io.test.ping", "Chaos", uids[i % uids.length], { i });
        for (let attempt = 0; ; attempt++) {
          try {
            await bus.publish(event);
            acknowledged.push(event.id);
            break;
          } catch (error) {
            if (attempt > 100) throw error;
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        }
      }
    };

    await controller.start();
    await publishSome(50);
    // Kill once a part of the fleet has converged.
    await pollUntil(async () => (await doneCount(storage)) >= 300, "300 devices converged");
    const disconnected = (async () => {
      for await (const status of nc.status()) if (status.type === "disconnect") return;
    })();
    await server.kill();
    await disconnected;
    // Publishes while the server is down wait in the client or retry; none may be lost.
    const publishing = publishSome(100);
    await server.restart();
    await publishing;
    await publishSome(50);

    await pollUntil(async () => (await doneCount(storage)) === uids.length, "every device converged", 90_000, 50);
    await pollUntil(() => acknowledged.every((id) => received.has(id)), "every acknowledged event delivered");
    expect(acknowledged.filter((id) => !received.has(id))).toEqual([]);

    expect(readRunLog(readFileSync(log, "utf8")).overlapping, "started twice at once").toEqual([]);
  }, 120_000);
});

async function doneCount(storage: KvStorage): Promise<number> {
  return (await storage.loadAll("Chaos")).filter((r) => isDone(r as ChaosResource)).length;
}
