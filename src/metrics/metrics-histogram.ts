import { ValidationError } from "../codec/errors.js";
import { grown } from "./metrics-counter.js";
import { assertMetricName, noLabels, type LabelSpace } from "./metrics-labels.js";
import { resized } from "../queue/typed-array.js";

/** A histogram's state: cumulative counts per finite upper bound (`le`); the `+Inf` bucket is `count`. */
export interface HistogramSnapshot {
  count: number;
  sum: number;
  buckets: { le: number; count: number }[];
}

/**
 * A Prometheus histogram family with fixed buckets. Counts are kept per bucket
 * (not cumulative) in one typed array, series after series, so `observe` is a
 * binary search and two increments; they are summed up only at scrape time.
 */
export class Histogram {
  readonly type = "histogram";
  readonly name: string;
  readonly help: string;
  readonly labels: LabelSpace;
  /** Finite upper bounds, strictly ascending; `+Inf` is implied. */
  readonly bounds: readonly number[];
  readonly #bounds: Float64Array;
  /** Buckets per series: the finite ones and `+Inf`. */
  readonly #stride: number;
  #counts: Float64Array;
  #sums: Float64Array;

  constructor(name: string, help: string, bounds: readonly number[], labels: LabelSpace = noLabels) {
    this.name = assertMetricName(name);
    this.help = String(help);
    if (labels.names.includes("le")) throw new ValidationError(`${name} labels`, `"le" is the histogram's own label`);
    this.labels = labels;
    this.bounds = Object.freeze(checkBounds(bounds, `${name} buckets`));
    this.#bounds = Float64Array.from(this.bounds);
    this.#stride = this.bounds.length + 1;
    const series = Math.max(1, labels.size());
    this.#counts = new Float64Array(series * this.#stride);
    this.#sums = new Float64Array(series);
  }

  /** Records `value` in series `series`. NaN lands in `+Inf`, as in client_golang. */
  observe(series: number, value: number): void {
    if (series >= this.#sums.length) this.#grow(series);
    const bounds = this.#bounds;
    // The first bound >= value (`le` is inclusive); written so NaN finds none.
    let lo = 0;
    let hi = bounds.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (bounds[mid] >= value) hi = mid;
      else lo = mid + 1;
    }
    this.#counts[series * this.#stride + lo]++;
    this.#sums[series] += value;
  }

  /** Observations in series `series`. */
  count(series = 0): number {
    if (series >= this.#sums.length) return 0;
    let n = 0;
    for (let b = series * this.#stride, end = b + this.#stride; b < end; b++) n += this.#counts[b];
    return n;
  }

  sum(series = 0): number {
    return series < this.#sums.length ? this.#sums[series] : 0;
  }

  /** Cumulative counts of series `series`, one per bound then `+Inf`. */
  cumulative(series = 0): Float64Array {
    const out = new Float64Array(this.#stride);
    if (series >= this.#sums.length) return out;
    let n = 0;
    for (let b = 0; b < this.#stride; b++) out[b] = n += this.#counts[series * this.#stride + b];
    return out;
  }

  /** The state of one series, or of every series of `among` (all by default) added up. */
  snapshot(among?: number | readonly number[]): HistogramSnapshot {
    const series = typeof among === "number" ? [among] : among ?? [...Array(this.#sums.length).keys()];
    const total = new Float64Array(this.#stride);
    let sum = 0;
    for (const s of series) {
      const c = this.cumulative(s);
      for (let b = 0; b < this.#stride; b++) total[b] += c[b];
      sum += this.sum(s);
    }
    return {
      count: total[this.#stride - 1],
      sum,
      buckets: this.bounds.map((le, b) => ({ le, count: total[b] })),
    };
  }

  /** Nothing to read ahead of a scrape. */
  collect(): void {}

  #grow(series: number): void {
    // Both arrays get room for the same series: #sums.length is the bound checked.
    const sums = grown(this.#sums, series);
    this.#counts = resized(this.#counts, sums.length * this.#stride);
    this.#sums = sums;
  }
}

function checkBounds(bounds: readonly number[], path: string): number[] {
  if (!Array.isArray(bounds)) throw new ValidationError(path, "must be an array of numbers");
  bounds.forEach((b, i) => {
    if (typeof b !== "number" || !Number.isFinite(b)) {
      throw new ValidationError(path, `bound ${i} must be a finite number (+Inf is implied), got ${String(b)}`);
    }
    if (i > 0 && !(b > bounds[i - 1])) {
      throw new ValidationError(path, `must be strictly ascending, but ${b} follows ${bounds[i - 1]}`);
    }
  });
  return [...bounds];
}

/**
 * The `q`-quantile (0..1) estimated from buckets as PromQL's `histogram_quantile`
 * does: linear within the bucket holding the rank, the lowest bucket starting
 * at 0, and the highest finite bound when the rank falls in `+Inf`. NaN when empty.
 */
export function histogramQuantile(h: HistogramSnapshot, q: number): number {
  if (!(q >= 0 && q <= 1)) throw new ValidationError("quantile", `must be a number in 0..1, got ${String(q)}`);
  if (h.count === 0) return NaN;
  const rank = q * h.count;
  let lower = 0;
  let below = 0;
  for (const { le, count } of h.buckets) {
    if (count >= rank && count > below) {
      const start = lower <= le ? lower : le;
      return start + ((le - start) * (rank - below)) / (count - below);
    }
    lower = le;
    below = count;
  }
  return h.buckets.length > 0 ? h.buckets[h.buckets.length - 1].le : NaN;
}
