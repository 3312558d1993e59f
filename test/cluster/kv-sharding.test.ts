import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import { CLUSTER_CLOSED, DUPLICATE_IDENTITY, DuplicateIdentityError, PARTITIONS_MISMATCH } from "../../src/cluster/cluster-errors.js";
import type { Clock } from "../../src/cluster/clock.js";
import { KvSharding } from "../../src/cluster/kv-sharding.js";
import { ValidationError } from "../../src/codec/errors.js";
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

async function member(
  bucket: string,
  identity: string,
  partitions = 16,
  clock?: Clock,
): Promise<{ sharding: KvSharding; journal: JournalingMember; nc: NatsConnection }> {
  const nc = await conn();
  const sharding = await KvSharding.open(nc, { bucket, identity, partitions, leaseMs: LEASE_MS, logger: quiet, clock });
  cleanups.push(() => sharding.leave());
  const journal = new JournalingMember(identity);
  await sharding.join(journal);
  return { sharding, journal, nc };
}

const freshBucket = (): string => `shards-${process.pid}-${++bucketSeq}-${Date.now()}`;

describe("KvSharding on one server", () => {
  it("gives 1, 2 and 3 members fair shares (one with a skewed clock), and a leaving member's share to the others, never two holders at once", async () => {
    const bucket = freshBucket();
    const a = await member(bucket, "a");
    await pollUntil(() => a.sharding.stats().owned === 16, "a to own all 16");
    const b = await member(bucket, "b");
    await pollUntil(() => a.sharding.stats().owned === 8 && b.sharding.stats().owned === 8, "8 + 8");
    // c's clock reads a day ahead: expiry is judged from each observer's own sightings, so skew does not matter.
    const c = await member(bucket, "c", 16, { now: () => performance.now() + 86_400_000 });
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

  it("a member whose connection is cut revokes its partitions as lost before another member takes them; tokens grow", async () => {
    const bucket = freshBucket();
    const a = await member(bucket, "a");
    const b = await member(bucket, "b");
    await pollUntil(() => a.sharding.stats().owned === 8 && b.sharding.stats().owned === 8, "8 + 8");
    const had = [...a.journal.owned];
    await a.nc.close();
    await pollUntil(() => b.sharding.stats().owned === 16, "b to take all 16", 30_000);

    const lost = a.journal.entries.filter((e) => e.event === "revoked" && e.reason === "lost").map((e) => e.partition);
    expect(lost.sort((x, y) => x - y)).toEqual(had.sort((x, y) => x - y));
    expect(a.sharding.stats()).toMatchObject({ owned: 0, leasesLost: 8 });
    expect(a.sharding.stats().renewFailures).toBeGreaterThan(0);
    const held = tenures([...a.journal.entries, ...b.journal.entries]);
    expect(overlaps(held)).toEqual([]);
    for (const p of had) {
      const [first, second] = held.filter((t) => t.partition === p).sort((x, y) => x.from - y.from);
      expect([first.who, second.who]).toEqual(["a", "b"]);
      expect(second.token).toBeGreaterThan(first.token);
    }
  });

  it("refuses a second live process with the same identity, and lets it start once the first left", async () => {
    const bucket = freshBucket();
    const first = await member(bucket, "same");
    const nc = await conn();
    const second = await KvSharding.open(nc, { bucket, identity: "same", partitions: 16, leaseMs: LEASE_MS, logger: quiet });
    const refused = await second.join(new JournalingMember("same-2")).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(DuplicateIdentityError);
    expect((refused as DuplicateIdentityError).code).toBe(DUPLICATE_IDENTITY);
    expect((refused as Error).message).toContain('"same"');
    expect(first.sharding.stats().owned).toBe(16);

    await first.sharding.leave();
    const third = await KvSharding.open(nc, { bucket, identity: "same", partitions: 16, leaseMs: LEASE_MS, logger: quiet });
    cleanups.push(() => third.leave());
    await third.join(new JournalingMember("same-3"));
    await pollUntil(() => third.stats().owned === 16, "the new 'same' to own all 16");
  });

  it("a process restarted with a crashed one's identity starts after that one's key expired", async () => {
    const bucket = freshBucket();
    const crashed = await member(bucket, "node-0");
    await pollUntil(() => crashed.sharding.stats().owned === 16, "16 owned");
    await crashed.nc.close();
    const again = await member(bucket, "node-0");
    await pollUntil(() => again.sharding.stats().owned === 16, "the restarted node-0 to own all 16", 30_000);
    expect(overlaps(tenures([...crashed.journal.entries, ...again.journal.entries]))).toEqual([]);
  });

  it("refuses to start beside a live member with another partition count, and withdraws its member key", async () => {
    const bucket = freshBucket();
    const a = await member(bucket, "a", 16);
    const nc = await conn();
    const other = await KvSharding.open(nc, { bucket, identity: "b", partitions: 32, leaseMs: LEASE_MS, logger: quiet });
    const error = await other.join(new JournalingMember("b")).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: PARTITIONS_MISMATCH, partitions: 32, memberPartitions: 16, member: "a" });
    await pollUntil(() => a.sharding.stats().members === 1 && a.sharding.stats().owned === 16, "a alone again, with all 16");
  });

  it("a member whose member key was collected (as others do for a stalled process) announces itself again and keeps working", async () => {
    const bucket = freshBucket();
    const a = await member(bucket, "a");
    const b = await member(bucket, "b");
    await pollUntil(() => a.sharding.stats().owned === 8 && b.sharding.stats().owned === 8, "8 + 8");
    const kv = await new Kvm(await conn()).open(bucket);
    const before = (await kv.get("member.a"))!.revision;
    const journalled = a.journal.entries.length;
    await kv.delete("member.a");
    await pollUntil(async () => {
      const entry = await kv.get("member.a");
      return entry?.operation === "PUT" && entry.revision > before;
    }, "member.a announced again");
    expect(a.sharding.stats()).toMatchObject({ owned: 8, leasesLost: 0 });
    expect(a.journal.entries.slice(journalled)).toEqual([]);
  });

  it("join twice is refused", async () => {
    const a = await member(freshBucket(), "a");
    await expect(a.sharding.join(new JournalingMember("a"))).rejects.toMatchObject({ code: CLUSTER_CLOSED });
  });

  it("refuses bad options naming the option", async () => {
    const nc = await conn();
    const cases: [unknown, string][] = [
      [{}, "options.identity"],
      [{ identity: "a.b" }, "options.identity"],
      [{ identity: "" }, "options.identity"],
      [{ identity: "x".repeat(129) }, "options.identity"],
      [{ identity: "a", partitions: 0 }, "options.partitions"],
      [{ identity: "a", partitions: 1.5 }, "options.partitions"],
      [{ identity: "a", leaseMs: "10s" }, "options.leaseMs"],
      [{ identity: "a", leaseMs: 10 }, "options.leaseMs"],
      [{ identity: "a", replicas: 9 }, "options.replicas"],
      [{ identity: "a", bucket: "a b" }, "options.bucket"],
      [{ identity: "a", clock: {} }, "options.clock"],
      [{ identity: "a", logger: { info() {} } }, "options.logger"],
      [{ identity: "a", partition: 8 }, "options.partition"],
      [null, "options"],
    ];
    for (const [options, path] of cases) {
      const error = await KvSharding.open(nc, options as never).catch((e: unknown) => e);
      expect(error, JSON.stringify(options)).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).path, JSON.stringify(options)).toBe(path);
    }
  });
});
