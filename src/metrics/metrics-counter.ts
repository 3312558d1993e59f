import { ValidationError } from "../codec/errors.js";
import { assertMetricName, noLabels, type LabelSpace } from "./metrics-labels.js";
import { resized } from "../queue/typed-array.js";

/**
 * A Prometheus counter family: one monotonic float per series, in a typed
 * array indexed by series number (see LabelSpace). `inc` allocates nothing.
 */
export class Counter {
  readonly type = "counter";
  readonly name: string;
  readonly help: string;
  readonly labels: LabelSpace;
  #values: Float64Array;

  constructor(name: string, help: string, labels: LabelSpace = noLabels) {
    this.name = assertMetricName(name);
    this.help = String(help);
    this.labels = labels;
    this.#values = new Float64Array(Math.max(1, labels.size()));
  }

  /** Adds `by` (default 1) to series `series` (default 0). */
  inc(series = 0, by = 1): void {
    // A counter never goes down: a rate() over it would read a reset.
    if (!(by >= 0)) throw new ValidationError(`${this.name}.inc`, `by must be a number >= 0, got ${String(by)}`);
    if (series >= this.#values.length) this.#values = grown(this.#values, series);
    this.#values[series] += by;
  }

  get(series = 0): number {
    return series < this.#values.length ? this.#values[series] : 0;
  }

  /** Nothing to read ahead of a scrape. */
  collect(): void {}
}

/** A copy of `a` with room for index `i` at least (doubling, so growth is amortised). */
export function grown(a: Float64Array, i: number, fill = 0): Float64Array {
  return resized(a, Math.max(a.length * 2, i + 1, 8), fill);
}
