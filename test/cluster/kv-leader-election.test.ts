import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import { KvLeaderElection, type LeadershipChange } from "../../src/cluster/kv-leader-election.js";
import { ValidationError } from "../../src/codec/errors.js";
import { natsUrl } from "../helpers/nats.js";
import { pollUntil } from "../helpers/poll.js";
import { wallNow } from "./journal.js";

const LEASE_MS = 1500;
const quiet = { info: () => {}, warn: () => {} };
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

interface Candidate {
  election: KvLeaderElection;
  nc: NatsConnection;
  /** Changes with when they arrived. */
  log: { at: number; change: LeadershipChange }[];
}

async function candidate(bucket: string, identity: string): Promise<Candidate> {
  const nc = await connect({ servers: natsUrl() });
  cleanups.push(() => nc.close());
  const election = await KvLeaderElection.open(nc, { bucket, name: "scheduler", identity, leaseMs: LEASE_MS, logger: quiet });
  cleanups.push(() => election.close());
  const log: Candidate["log"] = [];
  void (async () => {
    for await (const change of election.changes()) log.push({ at: wallNow(), change });
  })();
  return { election, nc, log };
}

const leaders = (all: Candidate[]): Candidate[] => all.filter((c) => c.election.isLeader);

describe("KvLeaderElection", () => {
  it("elects one leader; on resign another leads at once with a greater token", async () => {
    const bucket = `leaders-${process.pid}-${Date.now()}`;
    const all = [await candidate(bucket, "a"), await candidate(bucket, "b"), await candidate(bucket, "c")];
    await pollUntil(() => leaders(all).length === 1, "one leader");
    const first = leaders(all)[0];
    const firstToken = first.election.token!;
    await pollUntil(() => all.every((c) => c.election.leader() === first.election.identity), "everyone to see the leader");

    await first.election.resign();
    expect(first.log.at(-1)?.change).toEqual({ leader: false, reason: "resigned" });
    await pollUntil(() => leaders(all).length === 1, "a new leader");
    const second = leaders(all)[0];
    expect(second).not.toBe(first);
    expect(second.election.token!).toBeGreaterThan(firstToken);
    expect(second.log.at(-1)?.change).toEqual({ leader: true, token: second.election.token });
  });

  it("a leader cut off from NATS loses the lead before anyone else gains it", async () => {
    const bucket = `leaders-${process.pid}-${Date.now()}-cut`;
    const all = [await candidate(bucket, "a"), await candidate(bucket, "b")];
    await pollUntil(() => leaders(all).length === 1, "one leader");
    const [cut] = leaders(all);
    const other = all.find((c) => c !== cut)!;
    await cut.nc.close();
    await pollUntil(() => other.election.isLeader, "the other to lead", 30_000);
    const lostAt = cut.log.find((e) => !e.change.leader && e.change.reason === "lost")?.at;
    const gainedAt = other.log.find((e) => e.change.leader)?.at;
    expect(lostAt).toBeDefined();
    expect(lostAt!).toBeLessThan(gainedAt!);
    expect(cut.election.isLeader).toBe(false);
  });

  it("refuses bad options naming the option", async () => {
    const nc = await connect({ servers: natsUrl() });
    cleanups.push(() => nc.close());
    for (const [options, path] of [
      [{ identity: "a" }, "options.name"],
      [{ identity: "a", name: "x.y" }, "options.name"],
      [{ name: "x" }, "options.identity"],
      [{ identity: "a", name: "x", leaseMs: -1 }, "options.leaseMs"],
      [{ identity: "a", name: "x", partitions: 4 }, "options.partitions"],
    ] as const) {
      const error = await KvLeaderElection.open(nc, options as never).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).path).toBe(path);
    }
  });
});
