import { jetstream } from "@nats-io/jetstream";
import { connect, errors } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import { isTransient } from "../../src/nats/nats-errors.js";
import { KvStorage } from "../../src/storage/kv-storage.js";
import { readLatestPerSubject } from "../../src/storage/kv-snapshot.js";
import { NatsServer } from "../helpers/nats-server.js";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

/** A server of its own with `n` devices in bucket "snap". */
async function filled(n: number) {
  const server = await NatsServer.start();
  cleanups.push(() => server.remove());
  const nc = await connect({ servers: server.url });
  cleanups.push(() => nc.close());
  const storage = await KvStorage.open(nc, { bucket: "snap" });
  cleanups.push(() => storage.close());
  for (let i = 0; i < n; i += 500) {
    await Promise.all(Array.from({ length: Math.min(500, n - i) }, (_, j) => storage.save("Device", `d${i + j}`, { kind: "Device", uid: `d${i + j}`, spec: {} })));
  }
  return { server, nc };
}

describe("readLatestPerSubject", () => {
  it("rejects, never returns a partial list, when its connection closes mid-read", async () => {
    const { nc } = await filled(3000);
    let read = 0;
    const outcome = await readLatestPerSubject(jetstream(nc), "KV_snap", "$KV.snap.Device.*", { inactivityMs: 5000 }, (m) => {
      if (read++ === 0) void nc.close();
      return m.subject;
    }).then(
      (all) => ({ resolved: all.length }),
      (error: unknown) => ({ rejected: error }),
    );
    expect(outcome).toHaveProperty("rejected");
    expect(String((outcome as { rejected: unknown }).rejected)).toMatch(/stopped before it had read every subject|closed/i);
  });

  it("rejects with a transient error when the server goes away mid-read, so the caller retries", async () => {
    const { server, nc } = await filled(3000);
    let read = 0;
    const error = await readLatestPerSubject(jetstream(nc, { timeout: 300 }), "KV_snap", "$KV.snap.Device.*", { inactivityMs: 300 }, (m) => {
      if (read++ === 0) void server.kill();
      return m.subject;
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect(isTransient(error)).toBe(true);
  });

  it("gives up with TimeoutError when messages stop coming, though the server keeps the connection open", async () => {
    const { server, nc } = await filled(20000);
    cleanups.push(async () => server.resume());
    let read = 0;
    // Requests would wait a minute: only the reader's own inactivity check can end this sooner.
    const error = await readLatestPerSubject(jetstream(nc, { timeout: 60_000 }), "KV_snap", "$KV.snap.Device.*", { inactivityMs: 300 }, (m) => {
      if (read++ === 0) server.pause();
      return m.subject;
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(errors.TimeoutError);
    expect(read).toBeLessThan(20000);
  });
});
