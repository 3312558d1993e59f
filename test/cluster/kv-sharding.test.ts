import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import { KvSharding } from "../../src/cluster/kv-sharding.js";
import { natsUrl } from "../helpers/nats.js";
import { pollUntil } from "../helpers/poll.js";
import { JournalingMember, overlaps, tenures } from "./journal.js";

const LEASE_MS = 1500;
const quiet = { info: () => {}, warn: () => {} };

let bucketSeq = 0;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

async function conn(): Promise<NatsConnection> {
  const nc = await connect({ servers: natsUrl() });
  cleanups.push(() => nc.close());
  return nc;
}

async function member(bucket: string, identity: string, partitions = 16): Promise<{ sharding: KvSharding; journal: JournalingMember; nc: NatsConnection }> {
  const nc = await conn();
  const sharding = await KvSharding.open(nc, { bucket, identity, partitions, leaseMs: LEASE_MS, logger: quiet });
  cleanups.push(() => sharding.leave());
  const journal = new JournalingMember(identity);
  await sharding.join(journal);
  return { sharding, journal, nc };
}

const freshBucket = (): string => `shards-${process.pid}-${++bucketSeq}-${Date.now()}`;

describe("KvSharding on one server", () => {
  it("gives 1, 2 and 3 members fair shares, and a leaving member's share to the others, never two holders at once", async () => {
    const bucket = freshBucket();
    const a = await member(bucket, "a");
    await pollUntil(() => a.sharding.stats().owned === 16, "a to own all 16");
    const b = await member(bucket, "b");
    await pollUntil(() => a.sharding.stats().owned === 8 && b.sharding.stats().owned === 8, "8 + 8");
    const c = await member(bucket, "c");
    const shares = () => [a, b, c].map((m) => m.sharding.stats().owned);
    await pollUntil(() => shares().join() === "6,5,5", "6 + 5 + 5");
    for (let p = 0; p < 16; p++) expect([a, b, c].filter((m) => m.sharding.owns(p)).length).toBe(1);
    expect(c.sharding.stats().members).toBe(3);

    await c.sharding.leave();
    await pollUntil(() => a.sharding.stats().owned === 8 && b.sharding.stats().owned === 8, "8 + 8 after c left");
    expect(c.sharding.stats().handoversOut).toBe(5);
    const all = [a, b, c].flatMap((m) => m.journal.entries);
    expect(overlaps(tenures(all))).toEqual([]);
    expect(all.filter((e) => e.event === "revoking" && e.reason === "lost")).toEqual([]);
  });
});
