import { resized } from "../queue/typed-array.js";

/** p50/p99/max of recorded latencies, in ms; all 0 when nothing was recorded. */
export interface LatencySummary {
  samples: number;
  p50: number;
  p99: number;
  max: number;
}

/** Collects latencies (ms) into a growable Float64Array: a million samples cost 8 MB, no boxing. */
export class LatencyRecorder {
  #values: Float64Array;
  #length = 0;

  constructor(capacity = 1_024) {
    this.#values = new Float64Array(Math.max(1, capacity));
  }

  get length(): number {
    return this.#length;
  }

  record(ms: number): void {
    if (this.#length === this.#values.length) {
      this.#values = resized(this.#values, this.#values.length * 2);
    }
    this.#values[this.#length++] = ms;
  }

  /** Nearest-rank percentiles: every reported value is one that was recorded. */
  summary(): LatencySummary {
    const n = this.#length;
    if (n === 0) return { samples: 0, p50: 0, p99: 0, max: 0 };
    const sorted = this.#values.slice(0, n).sort();
    const rank = (p: number) => sorted[Math.min(n, Math.max(1, Math.ceil((p / 100) * n))) - 1];
    return { samples: n, p50: rank(50), p99: rank(99), max: sorted[n - 1] };
  }
}
