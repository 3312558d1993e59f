import type { Fence, RevokeReason, ShardingMember } from "../../src/cluster/sharding.js";

/** One line of a member's journal; `at` is wall-clock ms with sub-ms precision, comparable across processes on one machine. */
export type JournalEntry =
  | { readonly at: number; readonly who: string; readonly event: "acquired"; readonly partition: number; readonly token: number }
  | { readonly at: number; readonly who: string; readonly event: "revoking" | "revoked"; readonly partition: number; readonly reason: RevokeReason };

export const wallNow = (): number => performance.timeOrigin + performance.now();

/**
 * A ShardingMember that journals what it is told. A hand-over "finishes its
 * in-flight work" after `handoverMs`; a lost partition ends at once.
 */
export class JournalingMember implements ShardingMember {
  readonly entries: JournalEntry[] = [];
  readonly owned = new Set<number>();
  constructor(
    readonly who: string,
    private readonly handoverMs = 20,
    private readonly onEntry: (entry: JournalEntry) => void = () => {},
  ) {}

  acquired(partition: number, fence: Fence): void {
    this.owned.add(partition);
    this.record({ at: wallNow(), who: this.who, event: "acquired", partition, token: fence.token });
  }

  async revoke(partition: number, reason: RevokeReason): Promise<void> {
    this.owned.delete(partition);
    this.record({ at: wallNow(), who: this.who, event: "revoking", partition, reason });
    if (reason === "handover") await new Promise((resolve) => setTimeout(resolve, this.handoverMs));
    this.record({ at: wallNow(), who: this.who, event: "revoked", partition, reason });
  }

  private record(entry: JournalEntry): void {
    this.entries.push(entry);
    this.onEntry(entry);
  }
}

export interface Tenure {
  readonly who: string;
  readonly partition: number;
  readonly token: number;
  readonly from: number;
  /** When its revoke resolved, or the process died; Infinity while still held. */
  readonly to: number;
}

/**
 * Tenures per partition from journals: acquired .. the first revoke that
 * resolved after it (a "lost" escalation during a hand-over ends it when it
 * resolves too). `diedAt` closes the open tenures of a killed process.
 */
export function tenures(entries: readonly JournalEntry[], diedAt: ReadonlyMap<string, number> = new Map()): Tenure[] {
  const open = new Map<string, { who: string; partition: number; token: number; from: number }>();
  const done: Tenure[] = [];
  for (const entry of [...entries].sort((a, b) => a.at - b.at)) {
    const id = `${entry.who}/${entry.partition}`;
    if (entry.event === "acquired") {
      open.set(id, { who: entry.who, partition: entry.partition, token: entry.token, from: entry.at });
    } else if (entry.event === "revoked") {
      const tenure = open.get(id);
      if (tenure) done.push({ ...tenure, to: entry.at });
      open.delete(id);
    }
  }
  for (const tenure of open.values()) done.push({ ...tenure, to: diedAt.get(tenure.who) ?? Infinity });
  return done;
}

/** Pairs of tenures of one partition that overlap in time (should be none). */
export function overlaps(all: readonly Tenure[]): [Tenure, Tenure][] {
  const found: [Tenure, Tenure][] = [];
  const byPartition = new Map<number, Tenure[]>();
  for (const t of all) byPartition.set(t.partition, [...(byPartition.get(t.partition) ?? []), t]);
  for (const list of byPartition.values()) {
    list.sort((a, b) => a.from - b.from);
    for (let i = 1; i < list.length; i++) if (list[i].from < list[i - 1].to) found.push([list[i - 1], list[i]]);
  }
  return found;
}
