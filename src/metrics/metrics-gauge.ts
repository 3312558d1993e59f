import { grown } from "./metrics-counter.js";
import { assertMetricName, noLabels, type LabelSpace } from "./metrics-labels.js";

/**
 * A Prometheus gauge family: one float per series. Either set by its owner or
 * read at scrape time through `collect` (a callback gauge: queue depth, pool
 * utilisation), so a value that is cheap to read need not be kept up to date.
 */
export class Gauge {
  readonly type = "gauge";
  readonly name: string;
  readonly help: string;
  readonly labels: LabelSpace;
  readonly #collect: ((gauge: Gauge) => void) | undefined;
  #values: Float64Array;

  /** `collect`, when given, is called before every scrape or snapshot to set the values. */
  constructor(name: string, help: string, labels: LabelSpace = noLabels, collect?: (gauge: Gauge) => void) {
    this.name = assertMetricName(name);
    this.help = String(help);
    this.labels = labels;
    this.#collect = collect;
    this.#values = new Float64Array(Math.max(1, labels.size()));
  }

  set(series: number, value: number): void {
    if (series >= this.#values.length) this.#values = grown(this.#values, series);
    this.#values[series] = value;
  }

  add(series: number, by: number): void {
    if (series >= this.#values.length) this.#values = grown(this.#values, series);
    this.#values[series] += by;
  }

  get(series = 0): number {
    return series < this.#values.length ? this.#values[series] : 0;
  }

  /** Runs the callback, if any. A callback that throws leaves NaN: a scrape must not fail for one gauge. */
  collect(): void {
    if (this.#collect === undefined) return;
    try {
      this.#collect(this);
    } catch {
      this.#values.fill(NaN);
    }
  }
}
