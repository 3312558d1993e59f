import type { Resource } from "../src/storage/resource.js";

/** The e2e suite's resource: desired state in spec, actual in status. */
export type BenchDevice = Resource<
  {
    desired: "running";
    /** xorshift rounds per reconcile (CPU-heavy runs only) */
    spin?: number;
    /** The fleet suite's I/O wait per reconcile, ms; every `slowEvery`-th device waits `slowMs` instead. */
    waitMs?: number;
    slowEvery?: number;
    slowMs?: number;
    /** The scale suite's untimed warm-up devices: reconciled at once, without waiting for the gate. */
    warmUp?: boolean;
  },
  { state?: string; hash?: number }
>;

/** How long device `i` waits on its (simulated) network in the fleet suite. */
export function waitOf(i: number, spec: BenchDevice["spec"]): number {
  const { waitMs = 0, slowEvery = 0, slowMs = 0 } = spec;
  return slowEvery > 0 && i % slowEvery === slowEvery - 1 ? slowMs : waitMs;
}

export const DEVICE_KIND = "Device";

export function deviceUid(i: number): string {
  return `dev-${String(i).padStart(7, "0")}`;
}

/** Inverse of deviceUid. */
export function deviceIndex(uid: string): number {
  return Number(uid.slice(4));
}

/** `rounds` of xorshift32 + multiply: real CPU work whose result is used (written to status). */
export function spin(rounds: number, seed: number): number {
  let h = seed | 1;
  for (let i = 0; i < rounds; i++) {
    h ^= h << 13;
    h ^= h >>> 17;
    h ^= h << 5;
    h = Math.imul(h, 0x5bd1e995);
  }
  return h >>> 0;
}

/** Rounds of `spin` that take `targetUs` on this thread now (fastest of several tries). */
export function calibrateSpin(targetUs: number): { rounds: number; nsPerRound: number } {
  const probe = 2_000_000;
  let best = Infinity;
  let sink = 0;
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    sink ^= spin(probe, i + 1);
    best = Math.min(best, performance.now() - t0);
  }
  const nsPerRound = (best * 1e6) / probe;
  // `sink` keeps the probe from being optimised away.
  return { rounds: Math.max(1, Math.round((targetUs * 1000) / nsPerRound) + (sink & 0)), nsPerRound };
}
