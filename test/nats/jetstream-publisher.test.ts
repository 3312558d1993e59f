import { JetStreamApiCodes, JetStreamApiError, JetStreamError, jetstreamManager, PubHeaders } from "@nats-io/jetstream";
import { connect, errors, headers, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StorageClosedError } from "../../src/storage/errors.js";
import { JetStreamPublisher } from "../../src/nats/jetstream-publisher.js";
import { isTransient } from "../../src/nats/nats-errors.js";
import { natsUrl } from "../helpers/nats.js";
import { DENY_CONFIG, NatsServer } from "../helpers/nats-server.js";

const STREAM = `PUBTEST_${process.pid}`;
const SUBJECT = `pubtest${process.pid}`;

function hdrs(id: string, expectedLastSubjectSequence?: number) {
  const h = headers();
  h.set(PubHeaders.MsgIdHdr, id);
  if (expectedLastSubjectSequence !== undefined) h.set(PubHeaders.ExpectedLastSubjectSequenceHdr, `${expectedLastSubjectSequence}`);
  return h;
}

describe("JetStreamPublisher", () => {
  let nc: NatsConnection;
  beforeAll(async () => {
    nc = await connect({ servers: natsUrl() });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: STREAM, subjects: [`${SUBJECT}.>`] });
  });
  afterAll(async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(STREAM).catch(() => {});
    await nc.close();
  });

  it("pipelines publishes and resolves each with its own sequence", async () => {
    const publisher = new JetStreamPublisher(nc, 5000);
    const data = new TextEncoder().encode("x");
    const acks = await Promise.all(Array.from({ length: 500 }, (_, i) => publisher.publish(`${SUBJECT}.many.${i}`, data, hdrs(`many-${i}`))));
    const seqs = acks.map((a) => a.seq);
    expect(new Set(seqs).size).toBe(500);
    expect(acks.every((a) => a.duplicate === false)).toBe(true);
    const jsm = await jetstreamManager(nc);
    const stored = await jsm.streams.getMessage(STREAM, { seq: seqs[42] });
    expect(stored?.subject).toBe(`${SUBJECT}.many.42`);
    publisher.close(new StorageClosedError());
  });

  it("reports a repeated message id as a duplicate of the first", async () => {
    const publisher = new JetStreamPublisher(nc, 5000);
    const data = new TextEncoder().encode("once");
    const first = await publisher.publish(`${SUBJECT}.dup`, data, hdrs("dup-1"));
    const again = await publisher.publish(`${SUBJECT}.dup`, data, hdrs("dup-1"));
    expect(again).toEqual({ seq: first.seq, duplicate: true });
    publisher.close(new StorageClosedError());
  });

  it("rejects a compare-and-swap on a stale sequence with the server's JetStreamApiError", async () => {
    const publisher = new JetStreamPublisher(nc, 5000);
    const data = new TextEncoder().encode("v");
    const { seq } = await publisher.publish(`${SUBJECT}.cas`, data, hdrs("cas-1", 0));
    await publisher.publish(`${SUBJECT}.cas`, data, hdrs("cas-2", seq));
    const stale = await publisher.publish(`${SUBJECT}.cas`, data, hdrs("cas-3", seq)).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(JetStreamApiError);
    expect((stale as JetStreamApiError).code).toBe(JetStreamApiCodes.StreamWrongLastSequence);
    expect(isTransient(stale)).toBe(false);
    publisher.close(new StorageClosedError());
  });

  it("reports no responders (no stream on the subject) as a transient error", async () => {
    const publisher = new JetStreamPublisher(nc, 5000);
    const error = await publisher.publish(`nostream${process.pid}.x`, new Uint8Array(1), hdrs("nr-1")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(errors.RequestError);
    expect((error as InstanceType<typeof errors.RequestError>).isNoResponders()).toBe(true);
    expect(isTransient(error)).toBe(true);
    publisher.close(new StorageClosedError());
  });

  it("times out a publish nobody answers, as a transient error", async () => {
    const publisher = new JetStreamPublisher(nc, 200);
    // A core subscriber that never replies: the server sees a responder, so no 503 comes back.
    const silent = nc.subscribe(`silent${process.pid}.>`);
    try {
      const error = await publisher.publish(`silent${process.pid}.x`, new Uint8Array(1), hdrs("to-1")).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(errors.TimeoutError);
      expect(isTransient(error)).toBe(true);
    } finally {
      silent.unsubscribe();
      publisher.close(new StorageClosedError());
    }
  });

  it("rejects a reply that is not a stream's ack with JetStreamError, as js.publish does", async () => {
    const publisher = new JetStreamPublisher(nc, 5000);
    // A core responder on the subject instead of a stream: garbage, then JSON that is no ack.
    const replies = ["not json", JSON.stringify({ stream: "", seq: 1 }), JSON.stringify({ stream: "S" })];
    const responder = nc.subscribe(`fake${process.pid}.>`, { callback: (_, m) => void m.respond(replies.shift()!) });
    try {
      for (let i = 0; i < 3; i++) {
        const error = await publisher.publish(`fake${process.pid}.x`, new Uint8Array(1), hdrs(`fake-${i}`)).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(JetStreamError);
        expect((error as Error).message).toMatch(/invalid ack response/);
        expect(isTransient(error)).toBe(false);
      }
    } finally {
      responder.unsubscribe();
      publisher.close(new StorageClosedError());
    }
  });

  it("rejects a payload over max_payload at once, with the client's error", async () => {
    const publisher = new JetStreamPublisher(nc, 5000);
    const tooBig = new Uint8Array((nc.info?.max_payload ?? 1024 * 1024) + 1);
    await expect(publisher.publish(`${SUBJECT}.big`, tooBig, hdrs("big-1"))).rejects.toThrow(/max_payload/);
    publisher.close(new StorageClosedError());
  });

  it("after close, refuses new publishes but still answers those in flight", async () => {
    const publisher = new JetStreamPublisher(nc, 5000);
    const inFlight = publisher.publish(`${SUBJECT}.close`, new Uint8Array(1), hdrs("close-1"));
    publisher.close(new StorageClosedError());
    await expect(inFlight).resolves.toMatchObject({ duplicate: false });
    await expect(publisher.publish(`${SUBJECT}.close`, new Uint8Array(1), hdrs("close-2"))).rejects.toThrow(StorageClosedError);
  });

  it("rejects what is in flight when the connection closes", async () => {
    const own = await connect({ servers: natsUrl() });
    const publisher = new JetStreamPublisher(own, 5000);
    const silent = own.subscribe(`gone${process.pid}.>`);
    const pending = publisher.publish(`gone${process.pid}.x`, new Uint8Array(1), hdrs("gone-1")).catch((e: unknown) => e);
    await own.flush();
    silent.unsubscribe();
    await own.close();
    expect(await pending).toBeInstanceOf(errors.ClosedConnectionError);
  });

  it("rejects a publish the user may not make with PermissionViolationError, each refused one its own, others unharmed", async () => {
    const server = await NatsServer.start({ config: DENY_CONFIG("denied.>") });
    const own = await connect({ servers: server.url, user: "writer", pass: "pw" });
    try {
      const jsm = await jetstreamManager(own);
      await jsm.streams.add({ name: "PERM", subjects: ["allowed.>", "denied.>"] });
      // A timeout long enough that only the server's refusal can end these first.
      const publisher = new JetStreamPublisher(own, 60_000);
      const data = new Uint8Array(1);
      const [first, allowed, second] = await Promise.all([
        publisher.publish("denied.a", data, hdrs("perm-1")).catch((e: unknown) => e),
        publisher.publish("allowed.a", data, hdrs("perm-2")),
        publisher.publish("denied.a", data, hdrs("perm-3")).catch((e: unknown) => e),
      ]);
      for (const refused of [first, second]) {
        expect(refused).toBeInstanceOf(errors.PermissionViolationError);
        expect((refused as InstanceType<typeof errors.PermissionViolationError>).subject).toBe("denied.a");
        expect(isTransient(refused)).toBe(false);
      }
      expect(allowed.duplicate).toBe(false);
      expect((await jsm.streams.info("PERM")).state.messages).toBe(1);
      publisher.close(new StorageClosedError());
    } finally {
      await own.close();
      await server.remove();
    }
  });
});
