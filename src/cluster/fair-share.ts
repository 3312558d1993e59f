import { fnv1a32 } from "./partition-hash.js";

/**
 * How many of `partitions` the member `self` should hold among `members`
 * (itself included): floor(P/M), one more for the first P mod M members by
 * name. Every member computes the same split from the same member set, and the
 * shares add up to P exactly. (ceil(P/M) each, the wording, can leave
 * a member with nothing: 64 partitions over 12 members is 6 x 10 + 4 + 0.)
 */
export function fairShare(self: string, members: Iterable<string>, partitions: number): number {
  const names = [...new Set([...members, self])].sort();
  const base = Math.floor(partitions / names.length);
  return base + (names.indexOf(self) < partitions % names.length ? 1 : 0);
}

/**
 * The order in which `identity` prefers partitions (rendezvous hashing): members
 * grabbing free partitions at once mostly want different ones, and a member
 * gives back the ones it prefers least, so shares move little on a join.
 */
export function preferenceOrder(identity: string, partitions: number): Int32Array {
  const scores = new Float64Array(partitions);
  const order = new Int32Array(partitions);
  for (let p = 0; p < partitions; p++) {
    scores[p] = fnv1a32(`${identity}/${p}`);
    order[p] = p;
  }
  order.sort((a, b) => scores[a] - scores[b] || a - b);
  return order;
}

export interface SharePlan {
  readonly acquire: number[];
  readonly release: number[];
}

/**
 * What to do to reach `target`: `held` are the partitions owned now (hand-overs
 * in progress excluded), `pending` those being acquired, `busy(p)` whether p is
 * in any transition of ours, `available(p)` whether p can be taken now.
 */
export function planShare(
  target: number,
  order: Int32Array,
  held: (p: number) => boolean,
  heldCount: number,
  pending: number,
  busy: (p: number) => boolean,
  available: (p: number) => boolean,
): SharePlan {
  const acquire: number[] = [];
  const release: number[] = [];
  if (heldCount > target) {
    for (let i = order.length - 1; i >= 0 && release.length < heldCount - target; i--) {
      if (held(order[i])) release.push(order[i]);
    }
  } else {
    const want = target - heldCount - pending;
    for (let i = 0; i < order.length && acquire.length < want; i++) {
      const p = order[i];
      if (!held(p) && !busy(p) && available(p)) acquire.push(p);
    }
  }
  return { acquire, release };
}
