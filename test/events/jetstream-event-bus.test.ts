import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, errors, headers, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi, type Mock } from "vitest";
import {
  CLOUDEVENTS_JSON_CONTENT_TYPE,
  CLOUDEVENTS_MSGPACK_CONTENT_TYPE,
  cloudEventCodec,
  cloudEventCodecForContentType,
  jsonCloudEventCodec,
  msgpackCloudEventCodec,
} from "../../src/codec/cloud-event-codec.js";
import { ValidationError } from "../../src/codec/errors.js";
import { BusClosedError } from "../../src/events/errors.js";
import { EventPublishError } from "../../src/events/jetstream-errors.js";
import {
  DeadLetterHeaders,
  JetStreamEventBus,
  type JetStreamEventBusLogger,
  type JetStreamEventBusOptions,
} from "../../src/events/jetstream-event-bus.js";
import { InvalidPatternError } from "../../src/events/pattern.js";
import { newResourceEvent } from "../../src/events/resource-event.js";
import { event, eventBusContract, recorder } from "../contract/event-bus-contract.js";
import { natsUrl } from "../helpers/nats.js";
import { DENY_CONFIG, NatsServer } from "../helpers/nats-server.js";
import { pollUntil } from "../helpers/poll.js";

type LogFn = (first: string | Readonly<Record<string, unknown>>, ...rest: unknown[]) => void;
type QuietLogger = JetStreamEventBusLogger & Record<"debug" | "info" | "warn" | "error", Mock<LogFn>> & {
  /** Resolves when a line at `level` matching `pattern` was logged (already or later). */
  seen(level: "warn" | "error", pattern: RegExp): Promise<void>;
};

/** Records instead of printing: failing handlers would otherwise flood the output. */
function quietLogger(): QuietLogger {
  const waiters: { level: string; pattern: RegExp; resolve: () => void }[] = [];
  const lines: { level: string; message: string }[] = [];
  const at = (level: string) =>
    vi.fn<LogFn>((first, ...rest) => {
      // (fields, message) or the older (message, ...args): the message and the fields, as one line.
      const message = typeof first === "string" ? first : `${String(rest[0])} ${JSON.stringify(first)}`;
      lines.push({ level, message });
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i].level === level && waiters[i].pattern.test(message)) waiters.splice(i, 1)[0].resolve();
      }
    });
  return {
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    seen(level, pattern) {
      if (lines.some((l) => l.level === level && pattern.test(l.message))) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ level, pattern, resolve }));
    },
  };
}

let nc: NatsConnection;
let jsm: JetStreamManager;
const streams: string[] = [];

beforeAll(async () => {
  nc = await connect({ servers: natsUrl() });
  jsm = await jetstreamManager(nc);
});

afterAll(async () => {
  await nc?.close();
});

let unique = 0;
/** Fresh stream and subject names per bus: tests never see each other's events. */
function names(): Required<Pick<JetStreamEventBusOptions, "stream" | "subjectPrefix" | "deadLetterSubject">> {
  const id = `${process.pid}_${Date.now().toString(36)}_${unique++}`;
  return { stream: `JSB_${id}`, subjectPrefix: `jsb.${id}`, deadLetterSubject: `jsbdlq.${id}` };
}

const buses: JetStreamEventBus[] = [];
function makeBus(options: JetStreamEventBusOptions = {}, connection: NatsConnection = nc): JetStreamEventBus {
  const bus = new JetStreamEventBus(connection, {
    ...names(),
    logger: quietLogger(),
    nakDelayMs: { baseMs: 20, maxMs: 100 },
    ...options,
  });
  buses.push(bus);
  streams.push(bus.stream, bus.deadLetterStream);
  return bus;
}

async function dropStreams(): Promise<void> {
  for (const stream of streams.splice(0)) await jsm.streams.delete(stream).catch(() => {});
}

afterEach(async () => {
  for (const bus of buses.splice(0)) await bus.close();
  await dropStreams();
});

eventBusContract(
  "JetStreamEventBus",
  async () => makeBus(),
  async (bus) => {
    await bus.close();
    await dropStreams();
  },
);

/** A promise a test opens by hand: handlers await it to stay "busy". */
function gate(): { readonly promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe("JetStreamEventBus", () => {
  it("start creates both streams, adopts an existing one's settings, and is idempotent", async () => {
    const n = names();
    // An operator's stream: a short dedup window and a retention limit the bus must keep.
    await jsm.streams.add({ name: n.stream, subjects: [`${n.subjectPrefix}.>`], duplicate_window: 5_000_000_000, max_msgs: 1000 });
    const bus = makeBus({ ...n, duplicateWindowMs: 60_000 });
    await bus.start();
    await bus.start();
    const events = await jsm.streams.info(bus.stream);
    expect(events.config.subjects).toEqual([`${n.subjectPrefix}.>`]);
    expect(events.config.duplicate_window).toBe(60_000 * 1_000_000);
    expect(events.config.max_msgs).toBe(1000);
    const letters = await jsm.streams.info(bus.deadLetterStream);
    expect(letters.config.subjects).toEqual([`${n.deadLetterSubject}.>`]);
    // A second bus (another process) on the same names changes nothing and works.
    const again = makeBus({ ...n, duplicateWindowMs: 60_000 });
    await again.start();
    await again.publish(event("again.e"));
    const after = await jsm.streams.info(bus.stream);
    expect(after.state.messages).toBe(1);
    expect(after.config).toEqual(events.config);
  });

  it("stores an event published twice with the same id once", async () => {
    const bus = makeBus();
    await bus.start();
    const e = event("dup.e", 1);
    await bus.publish(e);
    await bus.publish(e);
    await bus.publish({ ...e });
    expect((await jsm.streams.info(bus.stream)).state.messages).toBe(1);
    expect(bus.stats()).toMatchObject({ published: 3, duplicates: 2 });
  });

  it("redelivers a failing handler's event after growing delays, then acks it", async () => {
    const baseMs = 100;
    const bus = makeBus({ nakDelayMs: { baseMs, maxMs: 1000 }, maxDeliver: 5 });
    const calls: number[] = [];
    const rec = recorder(() => {
      calls.push(performance.now());
      if (calls.length <= 2) throw new Error(`failure ${calls.length}`);
    });
    const sub = await bus.subscribe("retry.*", rec.handler, { durable: "retrying" });
    await bus.start();
    const e = event("retry.e", 1);
    await bus.publish(e);
    await rec.count(3);
    expect(rec.ids()).toEqual([e.id, e.id, e.id]);
    // Not early: the first nak waits base, the second 2 * base.
    expect(calls[1] - calls[0]).toBeGreaterThanOrEqual(baseMs);
    expect(calls[2] - calls[1]).toBeGreaterThanOrEqual(2 * baseMs);
    await pollUntil(async () => {
      const info = await jsm.consumers.info(bus.stream, sub.id);
      return info.num_ack_pending === 0 && info.ack_floor.stream_seq === 1;
    }, "the third delivery to be acked");
    expect(bus.stats()).toMatchObject({ delivered: 3, handlerErrors: 2, redelivered: 2, deadLettered: 0 });
  });

  it("dead-letters an event whose handler fails maxDeliver times, with the reason", async () => {
    const logger = quietLogger();
    const bus = makeBus({ maxDeliver: 3, nakDelayMs: { baseMs: 10, maxMs: 40 }, logger });
    const rec = recorder(() => {
      throw new Error("kaput");
    });
    await bus.subscribe("dlq.**", rec.handler);
    await bus.start();
    const e = event("dlq.device.failed", 7);
    await bus.publish(e);
    await logger.seen("warn", /dead-lettered/);
    expect(rec.ids()).toEqual([e.id, e.id, e.id]);
    expect(bus.stats()).toMatchObject({ delivered: 3, handlerErrors: 3, deadLettered: 1, redelivered: 2 });

    const { deadLetterSubject, subjectPrefix } = bus;
    const letter = await jsm.streams.getMessage(bus.deadLetterStream, { last_by_subj: `${deadLetterSubject}.dlq.device.failed` });
    expect(letter).not.toBeNull();
    expect(letter!.header.get(DeadLetterHeaders.reason)).toMatch(/handler failed 3 time\(s\): kaput/);
    expect(letter!.header.get(DeadLetterHeaders.subject)).toBe(`${subjectPrefix}.dlq.device.failed`);
    expect(letter!.header.get(DeadLetterHeaders.deliveries)).toBe("3");
    expect(letter!.header.get(DeadLetterHeaders.stream)).toBe(bus.stream);
    expect(letter!.header.get(DeadLetterHeaders.sequence)).toBe("1");
    expect(letter!.header.get("content-type")).toBe(CLOUDEVENTS_MSGPACK_CONTENT_TYPE);
    expect(msgpackCloudEventCodec.decode(letter!.data)).toEqual(e);
  });

  it("dead-letters messages that are not valid CloudEvents and keeps delivering", async () => {
    const logger = quietLogger();
    const bus = makeBus({ logger });
    const rec = recorder();
    await bus.subscribe("raw.*", rec.handler);
    await bus.start();
    const js = jetstream(nc);
    const { deadLetterSubject } = bus;
    // Not msgpack at all; JSON that is no CloudEvent; a valid event on a subject that is not its type.
    await js.publish(bus.subjectFor("raw.garbage"), new Uint8Array([0xc1, 0xff, 0x00]));
    const jsonHeaders = headers();
    jsonHeaders.set("content-type", CLOUDEVENTS_JSON_CONTENT_TYPE);
    await js.publish(bus.subjectFor("raw.nojson"), new TextEncoder().encode('{"specversion":"1.0"}'), { headers: jsonHeaders });
    await js.publish(bus.subjectFor("raw.mismatch"), msgpackCloudEventCodec.encode(event("raw.other", 1)));
    const good = event("raw.good", 2);
    await bus.publish(good);

    await rec.count(1);
    expect(rec.ids()).toEqual([good.id]);
    await pollUntil(async () => (await jsm.streams.info(bus.deadLetterStream)).state.messages === 3, "3 dead letters");
    const reasons = [];
    for (const type of ["raw.garbage", "raw.nojson", "raw.mismatch"]) {
      const letter = await jsm.streams.getMessage(bus.deadLetterStream, { last_by_subj: `${deadLetterSubject}.${type}` });
      reasons.push(letter!.header.get(DeadLetterHeaders.reason));
      expect(letter!.header.get(DeadLetterHeaders.deliveries)).toBe("1");
    }
    expect(reasons[0]).toMatch(/^undecodable: message: not valid msgpack/);
    expect(reasons[1]).toMatch(/^undecodable: event\.id: is required/);
    expect(reasons[2]).toMatch(/^undecodable: event\.type: "raw\.other" does not match the subject/);
    expect(bus.stats()).toMatchObject({ deadLettered: 3, delivered: 1, handlerErrors: 0 });
  });

  it.each([
    ["msgpack", CLOUDEVENTS_MSGPACK_CONTENT_TYPE, msgpackCloudEventCodec],
    ["json", CLOUDEVENTS_JSON_CONTENT_TYPE, jsonCloudEventCodec],
  ] as const)("round-trips a %s event and labels it with its content type", async (format, contentType, codec) => {
    const bus = makeBus({ format });
    const rec = recorder();
    await bus.subscribe("fmt.**", rec.handler);
    await bus.start();
    const sent = newResourceEvent("fmt.device.created", "Device", "dev-1", { name: "x", nested: { n: [1, 2.5, null], ok: true } }, {
      extensions: { traceparent: "00-abc-01" },
    });
    const binary = newResourceEvent("fmt.device.blob", "Device", "dev-2", new Uint8Array([0, 1, 254, 255]));
    await bus.publish(sent);
    await bus.publish(binary);
    await rec.count(2);
    expect(rec.events[0]).toEqual(sent);
    expect(rec.events[1].data).toBeInstanceOf(Uint8Array);
    expect(Array.from(rec.events[1].data as Uint8Array)).toEqual([0, 1, 254, 255]);

    const stored = await jsm.streams.getMessage(bus.stream, { seq: 1 });
    expect(stored!.subject).toBe(bus.subjectFor("fmt.device.created"));
    expect(stored!.header.get("content-type")).toBe(contentType);
    expect(stored!.header.get("Nats-Msg-Id")).toBe(sent.id);
    expect(codec.decode(stored!.data)).toEqual(sent);
    if (format === "json") {
      // Readable without converge: plain JSON, binary data as data_base64.
      expect(JSON.parse(new TextDecoder().decode(stored!.data))).toEqual(sent);
      const blob = await jsm.streams.getMessage(bus.stream, { seq: 2 });
      expect(JSON.parse(new TextDecoder().decode(blob!.data))).toMatchObject({ data_base64: "AAH+/w==" });
    }
  });

  it("rejects bad names, prefixes, patterns and event types before anything reaches NATS", async () => {
    const touched: string[] = [];
    // Records any call on the connection; only `options` may be read (the client's constructor does).
    const trap = new Proxy({} as NatsConnection, {
      get(_target, prop) {
        if (prop === "options") return {};
        if (prop === "then") return undefined;
        return (..._args: unknown[]) => {
          touched.push(String(prop));
          throw new Error(`reached NATS: ${String(prop)}`);
        };
      },
    });
    const bad: [JetStreamEventBusOptions, string][] = [
      [{ stream: "" }, "options.stream"],
      [{ stream: "a.b" }, "options.stream"],
      [{ stream: "a*" }, "options.stream"],
      [{ stream: "a>" }, "options.stream"],
      [{ stream: "a b" }, "options.stream"],
      [{ stream: "a\nb" }, "options.stream"],
      [{ stream: 5 as unknown as string }, "options.stream"],
      [{ stream: "s".repeat(201) }, "options.stream"],
      [{ subjectPrefix: "" }, "options.subjectPrefix"],
      [{ subjectPrefix: "dev.*" }, "options.subjectPrefix"],
      [{ subjectPrefix: "a>b" }, "options.subjectPrefix"],
      [{ subjectPrefix: "a.>" }, "options.subjectPrefix"],
      [{ subjectPrefix: "a..b" }, "options.subjectPrefix"],
      [{ subjectPrefix: ".a" }, "options.subjectPrefix"],
      [{ subjectPrefix: "a b" }, "options.subjectPrefix"],
      [{ subjectPrefix: "a\u0007" }, "options.subjectPrefix"],
      [{ deadLetterSubject: "dl q" }, "options.deadLetterSubject"],
      [{ subjectPrefix: "c.e", deadLetterSubject: "c.e" }, "options.deadLetterSubject"],
      [{ subjectPrefix: "c.e", deadLetterSubject: "c.e.dlq" }, "options.deadLetterSubject"],
      [{ subjectPrefix: "c.e", deadLetterSubject: "c" }, "options.deadLetterSubject"],
      [{ format: "xml" as "json" }, "options.format"],
      [{ maxDeliver: 0 }, "options.maxDeliver"],
      [{ maxDeliver: 1.5 }, "options.maxDeliver"],
      [{ ackWaitMs: 10 }, "options.ackWaitMs"],
      [{ duplicateWindowMs: Number.NaN }, "options.duplicateWindowMs"],
      [{ nakDelayMs: { baseMs: 100, maxMs: 50 } }, "options.nakDelayMs.maxMs"],
      [{ nakDelayMs: { baseMs: -1, maxMs: 50 } }, "options.nakDelayMs.baseMs"],
      [{ maxAckPending: 0 }, "options.maxAckPending"],
      [{ publishAttempts: 0 }, "options.publishAttempts"],
      [{ logger: {} as JetStreamEventBusLogger }, "options.logger"],
      [{ streem: "typo" } as JetStreamEventBusOptions, "options.streem"],
    ];
    for (const [options, path] of bad) {
      expect(() => new JetStreamEventBus(trap, options), JSON.stringify(options)).toThrow(
        expect.objectContaining({ code: "ERR_VALIDATION", path }),
      );
    }
    expect(() => new JetStreamEventBus(undefined as unknown as NatsConnection)).toThrow(ValidationError);

    const bus = new JetStreamEventBus(trap, { logger: quietLogger() });
    for (const pattern of ["dev.**.x", "a>b", "", "a b", "a\u0007", "dev*", "a..b", ".a"]) {
      await expect(bus.subscribe(pattern, () => {}), JSON.stringify(pattern)).rejects.toBeInstanceOf(InvalidPatternError);
    }
    for (const durable of ["a.b", "a b", "", "a*", "a\u0000"]) {
      await expect(bus.subscribe("ok.*", () => {}, { durable }), JSON.stringify(durable)).rejects.toMatchObject({
        path: "options.durable",
      });
    }
    await expect(bus.subscribe("ok.*", "nope" as unknown as () => void)).rejects.toMatchObject({ path: "handler" });
    for (const type of ["dev.*", "a>b", "a b", "", "a\u0001b", "a..b"]) {
      await expect(bus.publish({ ...event("ok.e"), type }), JSON.stringify(type)).rejects.toMatchObject({
        code: "ERR_VALIDATION",
        path: "event.type",
      });
    }
    const reason = new Error("gave up");
    await expect(bus.publish(event("ok.e"), { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(touched).toEqual([]);
  });

  it("resumes a durable subscription where it left off, without redelivering acked events", async () => {
    const shared = { ...names(), logger: quietLogger(), nakDelayMs: { baseMs: 20, maxMs: 100 } };
    const first = makeBus(shared);
    const before = recorder();
    const sub = await first.subscribe("dur.*", before.handler, { durable: "resumer" });
    await first.start();
    const early = [event("dur.e", 1), event("dur.e", 2)];
    for (const e of early) await first.publish(e);
    await before.count(2);
    await sub.unsubscribe();
    await pollUntil(async () => {
      const info = await jsm.consumers.info(first.stream, "resumer");
      return info.num_ack_pending === 0 && info.ack_floor.stream_seq === 2;
    }, "both early events acked");

    const away = [event("dur.e", 3), event("dur.e", 4)];
    for (const e of away) await first.publish(e);
    await first.close();

    // A new bus on the same stream: what another run of the process would do.
    const second = makeBus(shared);
    const after = recorder();
    await second.subscribe("dur.*", after.handler, { durable: "resumer" });
    await second.start();
    const late = event("dur.e", 5);
    await second.publish(late);
    await after.count(3);
    expect(after.ids()).toEqual([...away, late].map((e) => e.id));
    expect(before.ids()).toEqual(early.map((e) => e.id));
  });

  it("keeps publishing and delivering across a server restart", async () => {
    const server = await NatsServer.start();
    const own = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 50 });
    try {
      const logger = quietLogger();
      const bus = makeBus({ publishTimeoutMs: 250, publishAttempts: 40, logger }, own);
      const rec = recorder();
      await bus.subscribe("rs.*", rec.handler);
      await bus.start();
      const before = event("rs.e", 1);
      await bus.publish(before);
      await rec.count(1);

      const disconnected = (async () => {
        for await (const status of own.status()) if (status.type === "disconnect") return;
      })();
      await server.kill();
      await disconnected;
      const during = event("rs.e", 2);
      const publishing = bus.publish(during);
      // Down long enough for an attempt to time out: the retry must not store it twice.
      await logger.seen("warn", /publish of event .* attempt 1 failed/);
      await server.restart();
      await publishing;
      const after = event("rs.e", 3);
      await bus.publish(after);
      await rec.until((events) => events.some((e) => e.id === after.id), "the event published after the restart");
      expect(rec.ids()).toEqual([before, during, after].map((e) => e.id));
      const ownJsm = await jetstreamManager(own);
      expect((await ownJsm.streams.info(bus.stream)).state.messages).toBe(3);
      await bus.close();
    } finally {
      await own.close();
      await server.remove();
    }
  });

  it("refuses at once, with EventPublishError naming the subject, an event the user may not publish", async () => {
    const server = await NatsServer.start({ config: DENY_CONFIG("denied.>") });
    const own = await connect({ servers: server.url, user: "writer", pass: "pw" });
    try {
      // Retries that could only time out: a refusal must end the publish before them.
      const bus = makeBus({ subjectPrefix: "denied.events", publishAttempts: 20, publishTimeoutMs: 60_000 }, own);
      const refused = await bus.publish(event("x.e", 1)).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(EventPublishError);
      expect((refused as EventPublishError).subject).toBe("denied.events.x.e");
      expect((refused as Error).message).toMatch(/not stored \(Permissions Violation for Publish to "denied\.events\.x\.e"\)/);
      expect((refused as Error).cause).toBeInstanceOf(errors.PermissionViolationError);
      expect(bus.stats().published).toBe(0);
      await bus.close();
    } finally {
      await own.close();
      await server.remove();
    }
  });

  it("retries a stream whose files the server could not create, and publishes once it can", async () => {
    const server = await NatsServer.start();
    const own = await connect({ servers: server.url });
    try {
      const logger = quietLogger();
      const bus = makeBus({ publishAttempts: 40, logger }, own);
      // A file where the stream's directory goes: the server answers only
      // "error creating store for stream" and logs why.
      const streamsDir = join(server.storeDir, "jetstream", "$G", "streams");
      mkdirSync(streamsDir, { recursive: true });
      const blocker = join(streamsDir, bus.stream);
      writeFileSync(blocker, "not a directory");
      const published = bus.publish(event("store.e", 1));
      await logger.seen("warn", /stream setup: attempt 1 failed \(error creating store for stream\); retrying/);
      rmSync(blocker, { force: true });
      await published;
      const ownJsm = await jetstreamManager(own);
      expect((await ownJsm.streams.info(bus.stream)).state.messages).toBe(1);
      expect(server.problems.some((line) => line.includes(bus.stream) && line.includes("not a directory"))).toBe(true);
      await bus.close();
    } finally {
      await own.close();
      await server.remove();
    }
  });

  it("recreates a consumer deleted under it and goes on from the first event it had not handled", async () => {
    const logger = quietLogger();
    const bus = makeBus({ logger });
    const rec = recorder();
    const sub = await bus.subscribe("lost.*", rec.handler);
    await bus.start();
    const first = event("lost.e", 1);
    await bus.publish(first);
    await rec.count(1);
    await jsm.consumers.delete(bus.stream, sub.id);
    const second = event("lost.e", 2);
    await bus.publish(second);
    await logger.seen("warn", /consumer was missing; recreated .* from stream sequence 2/);
    await rec.count(2);
    const third = event("lost.e", 3);
    await bus.publish(third);
    await rec.count(3);
    expect(rec.ids()).toEqual([first, second, third].map((e) => e.id));
  });

  it("keeps a handler that outlasts ack_wait from being redelivered", async () => {
    const bus = makeBus({ ackWaitMs: 100 });
    const slow = event("slow.e", 1);
    const slowDone = gate();
    const rec = recorder(async (e) => {
      if (e.id !== slow.id) return;
      // Timer-based behaviour under test: 2.4 ack windows, in short steps.
      for (let i = 0; i < 4; i++) await new Promise((resolve) => setTimeout(resolve, 60));
      slowDone.open();
    });
    await bus.subscribe("slow.*", rec.handler, { durable: "slowpoke" });
    await bus.start();
    await bus.publish(slow);
    await slowDone.promise;
    // Published after the slow handler finished: a redelivery of the slow
    // event, sent while it ran, would reach the handler before this one.
    const sentinel = event("slow.sentinel", 2);
    await bus.publish(sentinel);
    await rec.until((events) => events.some((e) => e.id === sentinel.id), "the sentinel");
    expect(rec.ids()).toEqual([slow.id, sentinel.id]);
    expect(bus.stats().redelivered).toBe(0);
  });

  it("close refuses publishes, waits for the handler in progress, deletes ephemeral consumers and keeps the connection", async () => {
    const bus = makeBus();
    const release = gate();
    let finished = false;
    await bus.subscribe("cl.*", async () => {
      await release.promise;
      finished = true;
    });
    await bus.start();
    await bus.publish(event("cl.e"));
    await pollUntil(async () => (await jsm.consumers.info(bus.stream, (await consumerNames(bus.stream))[0])).num_ack_pending === 1, "the delivery");
    let closed = false;
    const closing = bus.close().then(() => (closed = true));
    await expect(bus.publish(event("cl.e"))).rejects.toBeInstanceOf(BusClosedError);
    await expect(bus.subscribe("cl.*", () => {})).rejects.toBeInstanceOf(BusClosedError);
    expect(closed).toBe(false);
    release.open();
    await closing;
    expect(finished).toBe(true);
    expect(nc.isClosed()).toBe(false);
    expect(await consumerNames(bus.stream)).toEqual([]);
    await bus.close();
    expect(bus.stats()).toMatchObject({ published: 1, delivered: 1 });
  });
});

describe("CloudEvent codecs", () => {
  it("pick a codec by format or by content type, parameters and case aside", () => {
    expect(cloudEventCodec("msgpack")).toBe(msgpackCloudEventCodec);
    expect(cloudEventCodec("json")).toBe(jsonCloudEventCodec);
    expect(() => cloudEventCodec("xml" as "json")).toThrow(expect.objectContaining({ path: "format" }));
    expect(cloudEventCodecForContentType("Application/CloudEvents+JSON; charset=utf-8")).toBe(jsonCloudEventCodec);
    expect(cloudEventCodecForContentType(" application/cloudevents+msgpack ")).toBe(msgpackCloudEventCodec);
    expect(cloudEventCodecForContentType("application/json")).toBeUndefined();
  });

  it("validate what they decode and name what cannot be encoded", () => {
    const good = event("codec.e", 1);
    const bad = { ...good, resourceuid: "dev.>" };
    for (const codec of [msgpackCloudEventCodec, jsonCloudEventCodec]) {
      expect(() => codec.decode(codec.encode(bad))).toThrow(expect.objectContaining({ path: "event.resourceuid" }));
      expect(() => codec.encode({ ...good, data: { n: 1n } })).toThrow(expect.objectContaining({ code: "ERR_VALIDATION", path: "event" }));
    }
    const notBase64 = new TextEncoder().encode(JSON.stringify({ ...good, data: undefined, data_base64: "%%%" }));
    expect(() => jsonCloudEventCodec.decode(notBase64)).toThrow(expect.objectContaining({ path: "event.data_base64" }));
    expect(() => msgpackCloudEventCodec.decode(new Uint8Array([0xc1]))).toThrow(expect.objectContaining({ path: "message" }));
  });
});

async function consumerNames(stream: string): Promise<string[]> {
  const names: string[] = [];
  for await (const ci of jsm.consumers.list(stream)) names.push(ci.name);
  return names;
}

