/** Summary of a sample of numbers (ms, ops/s, …). Percentiles are nearest-rank: each is a measured value. */
export interface Summary {
  n: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** Sorts a copy of `values` (NaN-free) and summarises it; all zeros for an empty sample. */
export function summarize(values: ArrayLike<number>): Summary {
  const n = values.length;
  if (n === 0) return { n: 0, min: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 };
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i];
  return {
    n,
    min: sorted[0],
    p50: rank(sorted, 50),
    p90: rank(sorted, 90),
    p99: rank(sorted, 99),
    p999: rank(sorted, 99.9),
    max: sorted[n - 1],
    mean: sum / n,
  };
}

/** Nearest-rank percentile of an ascending array. */
export function rank(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  return sorted[Math.min(n, Math.max(1, Math.ceil((p / 100) * n))) - 1];
}

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const m = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
}

/** How many values are below `limit`. */
export function countBelow(values: ArrayLike<number>, limit: number): number {
  let c = 0;
  for (let i = 0; i < values.length; i++) if (values[i] < limit) c++;
  return c;
}

/** A seeded PRNG (mulberry32): the same sequence on every run, so every queue sees the same keys. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
