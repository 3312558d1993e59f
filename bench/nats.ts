// nats: reconcile + status CAS through KvStorage vs raw pipelined KV CAS, and
// JetStreamEventBus.publish vs raw pipelined js.publish, on a real nats-server.
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  BaseReconciler,
  Controller,
  InMemoryEventBus,
  newResourceEvent,
  silentLogger,
  type ReconcileContext,
  type Resource,
} from "../src/index.js";
import { JetStreamEventBus, KvStorage, connectNats } from "../src/nats.js";
import { NatsServer, natsServerOnPath } from "../test/helpers/nats-server.js";
import { int, table } from "./format.js";
import { targetRow, type SuiteContext, type SuiteReport } from "./results.js";
import { median } from "./stats.js";

/** Why the suite cannot run here, or undefined when it can. */
export function natsSkipReason(): string | undefined {
  if (process.env.NATS_URL || natsServerOnPath()) return undefined;
  return "no nats-server on PATH and NATS_URL unset (apt-get install nats-server)";
}

/** Requests kept in flight by the raw baselines, as FACTS.md measured them. */
const IN_FLIGHT = 256;

type Device = Resource<{ desired: string }, { state?: string; round?: number }>;

/** Writes one status per reconcile: the work compared is one KV CAS per key. */
class StatusWriter extends BaseReconciler<Device> {
  readonly resourceKind = "Device";
  async reconcile(ctx: ReconcileContext, device: Device): Promise<void> {
    device.status = { state: device.spec.desired };
    await this.updateStatus(ctx, device);
  }
}

function device(i: number): Device {
  return { kind: "Device", uid: `dev-${String(i).padStart(7, "0")}`, spec: { desired: "running" } };
}

/** Runs `op(i)` for i in 0..n-1 with `inFlight` outstanding at a time; returns ops/s. */
async function pipelined(n: number, inFlight: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const start = performance.now();
  const lane = async () => {
    for (let i = next++; i < n; i = next++) await op(i);
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, n) }, lane));
  return (n * 1000) / (performance.now() - start);
}

/** Raw: kv.update(key, value, revision) for every key, 256 in flight. */
async function rawKvCas(nc: NatsConnection, bucket: string, n: number): Promise<number> {
  const kv = await new Kvm(nc).create(bucket, { history: 1 });
  const encoder = new TextEncoder();
  const value = encoder.encode(JSON.stringify(device(0)));
  const revisions = new Array<number>(n);
  await pipelined(n, IN_FLIGHT, async (i) => (revisions[i] = await kv.create(`Device.${device(i).uid}`, value)));
  const rate = await pipelined(n, IN_FLIGHT, async (i) => (revisions[i] = await kv.update(`Device.${device(i).uid}`, value, revisions[i])));
  await kv.destroy();
  return rate;
}

/** converge: the resources exist; start a controller and time its first pass (one status CAS each). */
async function convergeCas(nc: NatsConnection, bucket: string, n: number): Promise<number> {
  const storage = await KvStorage.open(nc, { bucket, logger: silentLogger });
  const bus = new InMemoryEventBus();
  await pipelined(n, IN_FLIGHT, (i) => storage.save("Device", device(i).uid, device(i)));
  const controller = new Controller(bus, storage, { isolation: "inline", workers: 2, logger: silentLogger });
  await controller.registerReconciler(new StatusWriter());
  await controller.start(); // lists (and caches) every device; the dispatch starts now
  const start = performance.now();
  while (controller.stats().statusWrites < n) await new Promise((resolve) => setTimeout(resolve, 2));
  const rate = (n * 1000) / (performance.now() - start);
  await controller.stop();
  await bus.close();
  await storage.close();
  await new Kvm(nc).open(bucket).then((kv) => kv.destroy());
  return rate;
}

async function rawPublish(nc: NatsConnection, stream: string, n: number): Promise<number> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
  const js = jetstream(nc);
  const payload = new TextEncoder().encode(JSON.stringify(newResourceEvent("io.bench.ping", "Device", "dev-1", { n: 1 })));
  const rate = await pipelined(n, IN_FLIGHT, (i) => js.publish(`${stream}.io.bench.ping`, payload, { msgID: `raw-${i}` }));
  await jsm.streams.delete(stream);
  return rate;
}

async function busPublish(nc: NatsConnection, stream: string, n: number): Promise<number> {
  const bus = new JetStreamEventBus(nc, { stream, subjectPrefix: stream.toLowerCase(), deadLetterSubject: `${stream.toLowerCase()}_dlq`, logger: silentLogger });
  await bus.start();
  const rate = await pipelined(n, IN_FLIGHT, () => bus.publish(newResourceEvent("io.bench.ping", "Device", "dev-1", { n: 1 })));
  await bus.close();
  const jsm = await jetstreamManager(nc);
  for (const name of [bus.stream, bus.deadLetterStream]) await jsm.streams.delete(name).catch(() => {});
  return rate;
}


export async function natsSuite(ctx: SuiteContext): Promise<SuiteReport | undefined> {
  const skip = natsSkipReason();
  if (skip) {
    ctx.log(`nats: skipped (${skip})`);
    return undefined;
  }
  const server = process.env.NATS_URL ? undefined : await NatsServer.start();
  const nc = await connectNats({ servers: process.env.NATS_URL ?? server!.url });
  const n = ctx.quick ? 2_000 : 20_000;
  // Seven: single runs of either side swing by a fifth on this shared machine,
  // and the median of three rounds still moved by as much between runs.
  const rounds = ctx.quick ? 1 : 7;
  ctx.log(`nats: ${int(n)} keys, ${rounds} rounds, ${IN_FLIGHT} raw requests in flight, nats-server ${nc.info?.version}`);
  const rows: { raw: number; converge: number; rawPub: number; busPub: number }[] = [];
  try {
    // Untimed warm-up of both paths, a full round each: after only 2,000 ops
    // the first timed round of the controller still ran a tenth below the rest.
    await rawKvCas(nc, `bench_warm_raw_${process.pid}`, n);
    await convergeCas(nc, `bench_warm_conv_${process.pid}`, n);
    for (let r = 0; r < rounds; r++) {
      // A-B then B-A order over rounds: drift on a shared machine hits both sides alike.
      const tag = `${process.pid}_${r}`;
      let raw: number;
      let converge: number;
      if (r % 2 === 0) {
        raw = await rawKvCas(nc, `bench_raw_${tag}`, n);
        converge = await convergeCas(nc, `bench_conv_${tag}`, n);
      } else {
        converge = await convergeCas(nc, `bench_conv_${tag}`, n);
        raw = await rawKvCas(nc, `bench_raw_${tag}`, n);
      }
      const rawPub = await rawPublish(nc, `BENCH_RAW_${tag}`, n);
      const busPub = await busPublish(nc, `BENCH_BUS_${tag}`, n);
      rows.push({ raw, converge, rawPub, busPub });
      ctx.log(`nats round ${r + 1}: raw KV CAS ${int(raw)}/s, reconcile+CAS ${int(converge)}/s, raw js.publish ${int(rawPub)}/s, bus.publish ${int(busPub)}/s`);
    }
  } finally {
    await nc.close();
    await server?.remove();
  }
  const ratio = median(rows.map((x) => x.converge / x.raw));
  const pubRatio = median(rows.map((x) => x.busPub / x.rawPub));
  const targets = [targetRow("nats.reconcile_vs_raw_kv_cas", ratio, 0.8, "higher", "x")];
  const markdown = [
    `${int(n)} keys per measurement, ${rounds} round(s) after an untimed warm-up of both paths, median of per-round ratios. ` +
      `Raw baselines keep ${IN_FLIGHT} requests in flight with the nats client (\`kv.update\` with the revision; \`js.publish\` with a message id). ` +
      "converge: the devices exist in a KvStorage bucket; a Controller (inline reconciler that writes one status, in-memory bus) is started, " +
      "which lists and caches them, and the first pass is timed from the end of `start()` until every status is written — one compare-and-swap per key " +
      "(KvStorage sends it through a JetStreamPublisher: one reply subscription, no timer or Error per request), plus the KV watch's echo of it, " +
      "which the informer must receive and parse before it can tell it is its own write. " +
      "`bus.publish`: JetStreamEventBus with validation, msgpack and dedup id, 256 publishes in flight, through the same kind of JetStreamPublisher (so it can beat raw `js.publish`, which builds an Error per request).",
    "",
    table(
      ["round", "raw KV CAS /s", "reconcile + status CAS /s", "ratio", "raw js.publish /s", "bus.publish /s", "ratio"],
      rows.map((x, i) => [
        String(i + 1),
        int(x.raw),
        int(x.converge),
        (x.converge / x.raw).toFixed(2),
        int(x.rawPub),
        int(x.busPub),
        (x.busPub / x.rawPub).toFixed(2),
      ]),
    ),
    "",
    `JetStreamEventBus.publish vs raw js.publish (not a design target): ${pubRatio.toFixed(2)}x.`,
  ].join("\n");
  return {
    name: "nats",
    markdown,
    targets,
    summary: [
      ...targets.map((t) => `${t.name} = ${t.value}${t.unit} (target >= ${t.target}) ${t.met ? "met" : "MISSED"}`),
      `nats bus.publish vs raw js.publish = ${pubRatio.toFixed(2)}x`,
    ],
    data: { keys: n, rounds: rows },
  };
}
