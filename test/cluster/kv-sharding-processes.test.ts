import { afterEach, describe, expect, it } from "vitest";
import { natsUrl } from "../helpers/nats.js";
import { pollUntil } from "../helpers/poll.js";
import { overlaps, tenures } from "./journal.js";
import { MemberProcess } from "./member-process.js";

const LEASE_MS = 1500;
const PARTITIONS = 24;

const running: MemberProcess[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((m) => m.stop()));
});

describe("KvSharding across real processes", () => {
  it("a SIGKILLed member's partitions are taken over within 2 x leaseMs, and no partition is ever held by two processes", async () => {
    const bucket = `shards-proc-${process.pid}-${Date.now()}`;
    const members = ["p1", "p2", "p3"].map((who) => new MemberProcess(who, [natsUrl()], bucket, PARTITIONS, LEASE_MS));
    running.push(...members);
    const [p1, p2, p3] = members;
    await pollUntil(() => members.every((m) => m.owned.size === 8), "8 partitions each", 30_000);

    const victim = [...p3.owned];
    await p3.kill();
    await pollUntil(() => p1.owned.size + p2.owned.size === PARTITIONS, "p1 and p2 to own everything", 30_000);
    await pollUntil(() => p1.owned.size === 12 && p2.owned.size === 12, "12 + 12", 30_000);

    // Take-over time per partition: the kill to its next acquisition.
    const retaken = victim.map((partition) => {
      const next = [...p1.entries, ...p2.entries].find((e) => e.event === "acquired" && e.partition === partition && e.at > p3.diedAt!);
      return next!.at - p3.diedAt!;
    });
    expect(Math.max(...retaken)).toBeLessThanOrEqual(2 * LEASE_MS);

    const all = members.flatMap((m) => m.entries);
    const held = tenures(all, new Map([["p3", p3.diedAt!]]));
    expect(overlaps(held)).toEqual([]);
    // Fence tokens grow from one holder to the next.
    for (let p = 0; p < PARTITIONS; p++) {
      const tokens = held.filter((t) => t.partition === p).sort((a, b) => a.from - b.from).map((t) => t.token);
      expect(tokens).toEqual([...tokens].sort((a, b) => a - b));
      expect(new Set(tokens).size).toBe(tokens.length);
    }
    await Promise.all([p1.stop(), p2.stop()]);
    expect([p1.exitCode, p2.exitCode]).toEqual([0, 0]);
  });
});
