import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { KvLeaderElection } from "../../src/cluster/kv-leader-election.js";
import { KvSharding } from "../../src/cluster/kv-sharding.js";
import { NatsCluster } from "../helpers/nats-cluster.js";
import { pollUntil } from "../helpers/poll.js";
import { type JournalEntry, JournalingMember, overlaps, tenures, wallNow } from "./journal.js";

const LEASE_MS = 1500;
const PARTITIONS = 24;
const quiet = { info: () => {}, warn: () => {} };

let cluster: NatsCluster;
beforeAll(async () => {
  cluster = await NatsCluster.start();
}, 60_000);
afterAll(async () => {
  await cluster?.remove();
});

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

interface Member {
  sharding: KvSharding;
  journal: JournalingMember;
  nc: NatsConnection;
}

/** `only`: the client talks to that one node and never learns of the others (no fail-over). */
async function member(bucket: string, identity: string, only?: string): Promise<Member> {
  const nc = await connect({
    servers: only ?? cluster.servers,
    ignoreClusterUpdates: only !== undefined,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
  });
  cleanups.push(() => nc.close());
  const sharding = await KvSharding.open(nc, { bucket, identity, partitions: PARTITIONS, leaseMs: LEASE_MS, replicas: 3, logger: quiet });
  cleanups.push(() => sharding.leave());
  const journal = new JournalingMember(identity);
  await sharding.join(journal);
  return { sharding, journal, nc };
}

const owned = (members: Member[]): number[] => members.map((m) => m.sharding.stats().owned);

describe("KvSharding on a 3-node NATS cluster (R3 bucket)", () => {
  it("keeps leases working when the bucket's stream leader node is SIGKILLed mid-run", async () => {
    const bucket = `shards-r3-${Date.now()}`;
    const members = [await member(bucket, "a"), await member(bucket, "b"), await member(bucket, "c")];
    await pollUntil(() => owned(members).join() === "8,8,8", "8 + 8 + 8");

    const leader = await cluster.streamLeader(`KV_${bucket}`);
    const index = cluster.names.indexOf(leader!);
    expect(index).toBeGreaterThanOrEqual(0);
    await cluster.kill(index);
    try {
      // Leases still work on the two nodes left: a new member joins and
      // gets its fair share (CAS writes, the watch, clean hand-overs).
      const d = await member(bucket, "d");
      members.push(d);
      await pollUntil(() => owned(members).join() === "6,6,6,6" && members.every((m) => m.journal.owned.size === 6), "6 + 6 + 6 + 6", 60_000);
      const all = members.flatMap((m) => m.journal.entries);
      expect(overlaps(tenures(all))).toEqual([]);
      for (let p = 0; p < PARTITIONS; p++) expect(members.filter((m) => m.sharding.owns(p)).length).toBe(1);
    } finally {
      await cluster.restart(index);
    }
  });

  it("a member whose only server stops revokes its partitions as lost before the others take them", async () => {
    const bucket = `shards-r3-cut-${Date.now()}`;
    const probe = await member(bucket, "probe");
    const leader = await cluster.streamLeader(`KV_${bucket}`);
    await probe.sharding.leave();
    // The cut member talks to a node that does not lead the bucket, so the others keep a working stream.
    const cutIndex = cluster.names.findIndex((name) => name !== leader);
    const cut = await member(bucket, "cut", cluster.servers[cutIndex]);
    const others = [await member(bucket, "x"), await member(bucket, "y")];
    await pollUntil(() => owned([cut, ...others]).join() === "8,8,8", "8 + 8 + 8");
    const had = [...cut.journal.owned];

    await cluster.kill(cutIndex);
    try {
      await pollUntil(() => owned(others).join() === "12,12", "12 + 12 among the others", 60_000);
      const lost = cut.journal.entries.filter((e) => e.event === "revoked" && e.reason === "lost").map((e) => e.partition);
      expect(lost.sort((x, y) => x - y)).toEqual(had.sort((x, y) => x - y));
      expect(overlaps(tenures([cut, ...others].flatMap((m) => m.journal.entries)))).toEqual([]);
    } finally {
      await cluster.restart(cutIndex);
    }
  });

  it("KvLeaderElection keeps one leader at a time through a SIGKILL of the stream leader node", async () => {
    const bucket = `leaders-r3-${Date.now()}`;
    // Leaderships journalled as tenures of "partition" 0, to reuse the overlap check.
    const journal: JournalEntry[] = [];
    const elections: KvLeaderElection[] = [];
    for (const who of ["a", "b", "c"]) {
      const nc = await cluster.connect(who);
      cleanups.push(() => nc.close());
      const election = await KvLeaderElection.open(nc, { bucket, name: "gc", identity: who, leaseMs: LEASE_MS, replicas: 3, logger: quiet });
      cleanups.push(() => election.close());
      elections.push(election);
      void (async () => {
        for await (const change of election.changes()) {
          journal.push(
            change.leader
              ? { at: wallNow(), who, event: "acquired", partition: 0, token: change.token }
              : { at: wallNow(), who, event: "revoked", partition: 0, reason: change.reason === "lost" ? "lost" : "handover" },
          );
        }
      })();
    }
    await pollUntil(() => elections.filter((e) => e.isLeader).length === 1, "one leader");
    const before = journal.length;
    const index = cluster.names.indexOf((await cluster.streamLeader(`KV_${bucket}`))!);
    await cluster.kill(index);
    try {
      // A leader again after the outage; it resigns, and another one is
      // elected: deletes, CAS writes and the watch all work on two nodes.
      await pollUntil(() => elections.filter((e) => e.isLeader).length === 1, "one leader after the kill", 60_000);
      const resigning = elections.find((e) => e.isLeader)!;
      await resigning.resign();
      await pollUntil(() => elections.filter((e) => e.isLeader).length === 1, "a new leader after the resignation", 60_000);
      const leader = elections.find((e) => e.isLeader)!;
      expect(leader).not.toBe(resigning);
      const token = leader.token!;
      expect(journal.length).toBeGreaterThan(before);
      expect(overlaps(tenures(journal))).toEqual([]);
      const tokens = journal.filter((e) => e.event === "acquired").map((e) => (e.event === "acquired" ? e.token : 0));
      expect(tokens).toEqual([...tokens].sort((x, y) => x - y));
      expect(token).toBe(tokens.at(-1));
    } finally {
      await cluster.restart(index);
    }
  });
});
