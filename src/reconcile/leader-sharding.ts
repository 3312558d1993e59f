import type { Fence, Sharding, ShardingMember, ShardingStats } from "../cluster/sharding.js";

/** What the controller needs of a leader election (KvLeaderElection fits). */
export interface LeaderElection {
  readonly isLeader: boolean;
  /** The fence token of the current leadership, when leading. */
  readonly token: number | undefined;
  changes(): AsyncIterator<{ readonly leader: true; readonly token: number } | { readonly leader: false; readonly reason: string }>;
  /** Gives up leadership so another process takes over at once. */
  resign(): Promise<void>;
}

/**
 * client-go's model on the sharding rules: the whole fleet is one partition,
 * held by the leader. Leadership gained: every key is listed and reconciled
 * here. Leadership lost (or resigned: another process may lead at once): the
 * running reconciles are aborted and nothing more starts. A controller that
 * stops drains first, then resigns, so the next leader starts at once.
 */
export class LeaderSharding implements Sharding {
  readonly partitions = 1;
  readonly #election: LeaderElection;
  #fence: Fence | undefined;
  #member: ShardingMember | undefined;
  #following: Promise<void> | undefined;
  #iterator: AsyncIterator<unknown> | undefined;
  #stats = { handoversIn: 0, handoversOut: 0, leasesLost: 0 };

  constructor(election: LeaderElection) {
    this.#election = election;
  }

  partitionOf(): number {
    return 0;
  }

  owns(): boolean {
    return this.#fence !== undefined;
  }

  fence(): Fence | undefined {
    return this.#fence;
  }

  async join(member: ShardingMember): Promise<void> {
    this.#member = member;
    const token = this.#election.token;
    if (this.#election.isLeader && token !== undefined) this.#gain(token);
    this.#following = this.#follow();
  }

  async leave(): Promise<void> {
    await this.#iterator?.return?.();
    if (this.#fence !== undefined) {
      this.#fence = undefined;
      this.#stats.handoversOut++;
      await this.#member?.revoke(0, "handover");
    }
    await this.#election.resign();
    await this.#following;
  }

  stats(): ShardingStats {
    return { owned: this.#fence === undefined ? 0 : 1, ...this.#stats, renewFailures: 0, members: 1 };
  }

  async #follow(): Promise<void> {
    const iterator = (this.#iterator = this.#election.changes());
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      const change = next.value;
      if (change.leader) this.#gain(change.token);
      else if (this.#fence !== undefined) {
        this.#fence = undefined;
        this.#stats.leasesLost++;
        await this.#member?.revoke(0, "lost");
      }
    }
  }

  #gain(token: number): void {
    if (this.#fence?.token === token) return;
    this.#fence = { partition: 0, token };
    this.#stats.handoversIn++;
    this.#member?.acquired(0, this.#fence);
  }
}
