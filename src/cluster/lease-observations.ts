import type { LeaseRecord } from "./lease-record.js";

/** What this process last saw of one key, and when by its own clock. */
export interface Observation {
  readonly revision: number;
  /** A value is there (not deleted). */
  readonly live: boolean;
  readonly record: LeaseRecord | undefined;
  /** Local monotonic time this revision was first seen. */
  readonly seenAt: number;
}

/** How a lease key looks to a would-be holder. */
export type Availability =
  /** Never written, or deleted: take it by CAS on `revision` (0 when never written). */
  | "free"
  /** Its holder's renewals have not been seen for a whole lease: take it by CAS on `revision`. */
  | "expired"
  /** It names this very process (an earlier tenure, revoked): take it again by CAS at once. */
  | "ours"
  | "held";

/**
 * Lease expiry as client-go's leader election judges it: a key counts as held
 * while its changes keep coming, measured from when this observer first saw
 * each revision, by its own clock. Nothing in the record (no holder timestamp)
 * is trusted, so skew between machines does not matter, and a bucket `max_age`
 * expiry (which leaves no marker on 2.9) is never needed.
 *
 * Invariant: a revision is recorded once (the first sighting); an older
 * revision arriving late (a CAS answer after the watch, a replayed watch) is ignored.
 */
export class LeaseObservations {
  readonly #byKey = new Map<string, Observation>();

  /** Records a sighting; returns whether it was news (a newer revision). */
  observe(key: string, revision: number, live: boolean, record: LeaseRecord | undefined, now: number): boolean {
    const known = this.#byKey.get(key);
    if (known && known.revision >= revision) return false;
    this.#byKey.set(key, { revision, live, record: live ? record : undefined, seenAt: now });
    return true;
  }

  get(key: string): Observation | undefined {
    return this.#byKey.get(key);
  }

  /** The revision a CAS on `key` must expect: the last seen, 0 when never seen. */
  revision(key: string): number {
    return this.#byKey.get(key)?.revision ?? 0;
  }

  availability(key: string, instance: string, now: number, leaseMs: number): Availability {
    const seen = this.#byKey.get(key);
    if (!seen || !seen.live) return "free";
    if (seen.record?.instance === instance) return "ours";
    return now - seen.seenAt > leaseMs ? "expired" : "held";
  }

  /** Keys under `prefix` whose value is live and was renewed within `leaseMs`, with their records. */
  *live(prefix: string, now: number, leaseMs: number): Generator<[string, Observation]> {
    for (const entry of this.#byKey) {
      if (entry[0].startsWith(prefix) && entry[1].live && now - entry[1].seenAt <= leaseMs) yield entry;
    }
  }

  /** Keys under `prefix` whose value is live but not renewed within `leaseMs`. */
  *expired(prefix: string, now: number, leaseMs: number): Generator<[string, Observation]> {
    for (const entry of this.#byKey) {
      if (entry[0].startsWith(prefix) && entry[1].live && now - entry[1].seenAt > leaseMs) yield entry;
    }
  }
}
