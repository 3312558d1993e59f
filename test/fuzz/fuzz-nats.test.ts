import { jetstream, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { headers, type NatsConnection } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import {
  Controller,
  ValidationError,
  newResourceEvent,
  silentLogger,
  type CloudEvent,
  type Resource,
} from "../../src/index.js";
import { DeadLetterHeaders, JetStreamEventBus, KvStorage, connectNats } from "../../src/nats.js";
import type { ChaosResource } from "../fixtures/chaos-reconciler.js";
import { distUrl, untilAll } from "../helpers/converged.js";
import { natsUrl } from "../helpers/nats.js";
import { pollUntil } from "../helpers/poll.js";
import {
  HUGE_LENGTH,
  Rng,
  corruptEntry,
  fuzzSeed,
  hugeString,
  malformedEvent,
  malformedMessage,
  malformedSave,
  validResource,
  type CorruptEntry,
  type MalformedMessage,
  type ValidResource,
} from "./generators.js";
import { Rejections } from "./rejections.js";

// NATS half of the fuzz (test/fuzz/fuzz.test.ts is the in-memory half): bad
// publishes and saves through JetStreamEventBus and KvStorage, raw garbage on
// the bus's subjects and in the KV bucket, while a controller (worker
// isolation) converges valid resources created in between. FUZZ_SEED=<n> replays a run.
const BAD_PUBLISHES = 1_000;
const BAD_SAVES = 1_000;
const RAW_MESSAGES = 1_500;
const RAW_ENTRIES = 1_500;
const VALID = 200;
/** Raw messages that fill max_payload: their dead letter cannot carry the body. */
const NEAR_MAX = 2;
/** 2 MiB events and resources: more than the server's max_payload. */
const OVERSIZED = 3;
const ROUND = 100;

const CHAOS = distUrl("test/fixtures/chaos-reconciler.js");

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

function names() {
  const id = `${process.pid}_${Date.now().toString(36)}`;
  return { bucket: `fuzz_${id}`, stream: `FUZZ_${id}`, subjectPrefix: `fuzz.${id}`, deadLetterSubject: `fuzzdlq.${id}` };
}

async function drop(nc: NatsConnection, n: ReturnType<typeof names>): Promise<void> {
  const jsm = await jetstreamManager(nc);
  for (const stream of [n.stream, `${n.stream}_DLQ`, `KV_${n.bucket}`]) await jsm.streams.delete(stream).catch(() => {});
}

/** Every message of `stream` (an ordered consumer), once `count` are there. */
async function readStream(nc: NatsConnection, stream: string, count: number): Promise<JsMsg[]> {
  const consumer = await jetstream(nc).consumers.get(stream);
  const out: JsMsg[] = [];
  if (count === 0) return out;
  const messages = await consumer.consume({ max_messages: 256 });
  for await (const m of messages) {
    out.push(m);
    if (out.length >= count) break;
  }
  return out;
}

describe("fuzz: JetStream bus and KV storage", () => {
  it("rejects malformed publishes, saves, raw messages and raw KV values: each with a clear error, each counted; valid resources converge", async ({ onTestFailed }) => {
    const seed = fuzzSeed();
    onTestFailed(() => console.error(`fuzz seed ${seed}: replay with FUZZ_SEED=${seed} npx vitest run test/fuzz/fuzz-nats.test.ts`));
    const rng = new Rng(seed);
    const nc = await connectNats({ servers: natsUrl() });
    const n = names();
    const maxPayload = nc.info!.max_payload;
    const bus = new JetStreamEventBus(nc, { stream: n.stream, subjectPrefix: n.subjectPrefix, deadLetterSubject: n.deadLetterSubject, logger: silentLogger });
    const storage = await KvStorage.open(nc, { bucket: n.bucket, logger: silentLogger });
    const controller = new Controller(bus, storage, { workers: 2, logger: silentLogger });
    await controller.registerReconciler(CHAOS);
    const others: KvStorage[] = [];
    cleanups.push(async () => {
      await controller.stop();
      await bus.close();
      await storage.close();
      for (const s of others) await s.close();
      await drop(nc, n);
      await nc.close();
    });
    await controller.start();

    const js = jetstream(nc);
    const rawKv = await new Kvm(nc).open(n.bucket);
    const ledger = new Rejections();
    const rawBySequence = new Map<number, MalformedMessage>();
    const entries: CorruptEntry[] = [];
    const valid: ValidResource[] = [];
    let validEvents = 0;
    let rawMessages = 0;

    const sendRaw = async (m: MalformedMessage): Promise<void> => {
      rawMessages++;
      const h = headers();
      if (m.contentType !== undefined) h.set("content-type", m.contentType);
      // Straight onto the bus's subject, past JetStreamEventBus.publish.
      const ack = await js.publish(`${n.subjectPrefix}.${m.subjectType}`, m.data, { headers: h });
      rawBySequence.set(ack.seq, m);
    };

    // Quotas, spent in interleaved rounds; each round's network work is pipelined.
    const quota = { publish: BAD_PUBLISHES, save: BAD_SAVES, raw: RAW_MESSAGES, entry: RAW_ENTRIES };
    const kinds = Object.keys(quota) as (keyof typeof quota)[];
    const total = BAD_PUBLISHES + BAD_SAVES + RAW_MESSAGES + RAW_ENTRIES;
    const validEvery = Math.floor(total / VALID);
    for (let sent = 0; sent < total; ) {
      const pending: Promise<unknown>[] = [];
      // Events name resources saved in earlier rounds: they exist by now.
      const saved = valid.length;
      for (let r = 0; r < ROUND && sent < total; r++, sent++) {
        if (sent % validEvery === 0 && valid.length < VALID) {
          const resource = validResource(rng, "Chaos", `v${valid.length}`);
          valid.push(resource);
          pending.push(storage.save("Chaos", resource.uid, resource));
          if (saved > 0) {
            const about = valid[rng.int(saved)];
            pending.push(bus.publish(newResourceEvent("io.fuzz.touched", "Chaos", about.uid, { sent })));
            validEvents++;
          }
        }
        const open = kinds.filter((k) => quota[k] > 0);
        const kind = rng.pick(open);
        quota[kind]--;
        switch (kind) {
          case "publish": {
            const c = malformedEvent(rng);
            await ledger.expect("JetStreamEventBus.publish", { what: c.what, path: c.path }, () => bus.publish(c.event as CloudEvent));
            break;
          }
          case "save": {
            const c = malformedSave(rng, "Chaos", `m${sent}`);
            await ledger.expect("KvStorage.save", { what: c.what, path: c.path }, () =>
              storage.save(c.kind as string, c.uid as string, c.value as Resource, c.options as { expectedRevision?: number }),
            );
            break;
          }
          case "raw":
            pending.push(sendRaw(malformedMessage(rng, maxPayload)));
            break;
          case "entry": {
            const e = corruptEntry(rng, "Chaos", `junk${entries.length}`);
            entries.push(e);
            // Straight into the bucket, past KvStorage.save.
            pending.push(rawKv.put(e.key, e.data));
            break;
          }
        }
      }
      await Promise.all(pending);
    }
    while (valid.length < VALID) {
      const resource = validResource(rng, "Chaos", `v${valid.length}`);
      valid.push(resource);
      await storage.save("Chaos", resource.uid, resource);
    }

    // Too large for one NATS message: refused with a clear error, before or by the client, never a crash.
    for (let i = 0; i < OVERSIZED; i++) {
      const event = newResourceEvent("io.fuzz.huge", "Chaos", "v0", { blob: hugeString() });
      await ledger.expect("JetStreamEventBus.publish", { what: "2 MiB event", codes: ["ERR_EVENT_PUBLISH"] }, () => bus.publish(event));
      const resource = { kind: "Chaos", uid: `huge${i}`, spec: { mode: "ok", blob: hugeString() } };
      await ledger.expect("KvStorage.save", { what: "2 MiB resource", path: "value" }, () => storage.save("Chaos", resource.uid, resource));
      // No wire format here carries a bigint: refused by every backend alike, naming where it is.
      const big = { kind: "Chaos", uid: `big${i}`, spec: { mode: "ok", n: 10n ** 30n } };
      await ledger.expect("KvStorage.save", { what: "bigint in spec", path: "value.spec.n" }, () => storage.save("Chaos", big.uid, big));
    }
    for (let i = 0; i < NEAR_MAX; i++) await sendRaw(malformedMessage(rng, maxPayload, true));

    // Calls that throw: every one rejected cleanly and counted.
    expect(ledger.problems).toEqual([]);
    const calls = BAD_PUBLISHES + BAD_SAVES + 3 * OVERSIZED;
    expect(ledger.total(ledger.sent)).toBe(calls);
    expect(ledger.total(ledger.rejected)).toBe(calls);

    // Raw messages: each one dead-lettered as undecodable, and counted.
    expect(rawMessages).toBe(RAW_MESSAGES + NEAR_MAX);
    await pollUntil(() => bus.stats().undecodable >= rawMessages, `${rawMessages} raw messages dead-lettered`, 10_000);
    const dlq = bus.deadLetterStream;
    const jsm = await jetstreamManager(nc);
    await pollUntil(async () => (await jsm.streams.info(dlq)).state.messages >= rawMessages, "dead letters stored", 10_000);
    const deadLetters = await readStream(nc, dlq, rawMessages);
    const reasonProblems: string[] = [];
    const seen = new Set<number>();
    for (const m of deadLetters) {
      const sequence = Number(m.headers?.get(DeadLetterHeaders.sequence));
      const reason = m.headers?.get(DeadLetterHeaders.reason) ?? "";
      const sent = rawBySequence.get(sequence);
      seen.add(sequence);
      if (sent === undefined) {
        reasonProblems.push(`dead letter of unknown sequence ${sequence}: ${reason}`);
        continue;
      }
      const why = reason.startsWith("undecodable: ") ? reason.slice("undecodable: ".length) : undefined;
      if (why === undefined || !sent.reason.test(why)) reasonProblems.push(`${sent.what}: reason ${JSON.stringify(reason.slice(0, 200))}, expected ${sent.reason}`);
      const dropped = m.headers?.get(DeadLetterHeaders.bodyDropped);
      if (sent.data.length > maxPayload - 1024) {
        if (dropped !== String(sent.data.length) || m.data.length !== 0) reasonProblems.push(`${sent.what}: body not dropped (${dropped})`);
      } else if (dropped || m.data.length !== sent.data.length) {
        reasonProblems.push(`${sent.what}: dead letter body of ${m.data.length} bytes, sent ${sent.data.length}`);
      }
    }
    expect(reasonProblems).toEqual([]);
    expect(seen.size).toBe(rawMessages);
    expect((await jsm.streams.info(dlq)).state.messages).toBe(rawMessages);

    // Raw KV values: each skipped by the controller's watch, and counted once.
    await pollUntil(() => storage.stats().invalidEntries >= RAW_ENTRIES, `${RAW_ENTRIES} corrupt entries seen by the watch`, 10_000);

    // Every valid resource converged; nothing valid lost, nothing invalid loaded.
    const checker = await KvStorage.open(nc, { bucket: n.bucket, logger: silentLogger });
    others.push(checker);
    await untilAll<ChaosResource>(checker, "Chaos", valid.map((r) => r.uid), (r) => r.status?.done === true);
    const verifier = await KvStorage.open(nc, { bucket: n.bucket, logger: silentLogger });
    others.push(verifier);
    const loaded = await verifier.loadAll("Chaos");
    expect(loaded.map((r) => r.uid).sort()).toEqual(valid.map((r) => r.uid).sort());
    for (const resource of loaded) {
      const sent = valid.find((r) => r.uid === resource.uid)!;
      expect(resource.spec).toEqual(sent.spec);
      expect((resource as ChaosResource).status?.done).toBe(true);
    }
    const listed = entries.filter((e) => e.listed).length;
    expect(verifier.stats().invalidEntries).toBe(listed);
    // A corrupt entry read directly is a ValidationError naming the bucket and key.
    const direct = entries.filter((e) => /^Chaos\.junk\d+$/.test(e.key)).slice(0, 20);
    for (const e of direct) {
      const uid = e.key.slice("Chaos.".length);
      const error = await verifier.load("Chaos", uid).then(() => undefined, (err: unknown) => err);
      expect(error, e.what).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).path.startsWith(`${n.bucket}[${JSON.stringify(e.key)}]`), (error as Error).message).toBe(true);
    }
    expect(verifier.stats().invalidEntries).toBe(listed + direct.length);
    // Nothing was read twice by the controller's storage: one count per corrupt write.
    expect(storage.stats().invalidEntries).toBe(RAW_ENTRIES);

    const stats = bus.stats();
    expect(stats.published).toBe(validEvents);
    expect(stats.handlerErrors).toBe(0);
    expect(stats.undecodable).toBe(rawMessages);
    expect(stats.deadLettered).toBe(rawMessages);
    await pollUntil(() => bus.stats().delivered >= validEvents, "every valid event delivered to the controller", 10_000);
    const c = controller.stats();
    expect({ failed: c.failed, terminal: c.terminal, crashes: c.crashes, timeouts: c.timeouts, invalid: c.invalid, missing: c.missing }).toEqual({
      failed: 0,
      terminal: 0,
      crashes: 0,
      timeouts: 0,
      invalid: 0,
      missing: 0,
    });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(HUGE_LENGTH).toBeGreaterThan(maxPayload);
  });
});
