import { ValidationError } from "../codec/errors.js";

/**
 * The label sets of a metric family, numbered: series `i` carries `values(i)`.
 * Instruments index typed arrays by series number, so the hot path never
 * hashes a label; values are rendered only at scrape time.
 */
export interface LabelSpace {
  readonly names: readonly string[];
  /** How many series exist now (it may grow, e.g. when a kind is first seen). */
  size(): number;
  /** The label values of series `i`, in `names` order. */
  values(i: number): readonly string[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Throws ValidationError unless `name` is a valid Prometheus metric name. */
export function assertMetricName(name: unknown): string {
  if (typeof name !== "string" || !METRIC_NAME.test(name)) {
    throw new ValidationError("metric name", `${JSON.stringify(name)} must match ${METRIC_NAME.source}`);
  }
  return name;
}

/** Throws ValidationError unless `name` is a valid label name (`__` prefixes are Prometheus's own). */
export function assertLabelName(name: unknown): string {
  if (typeof name !== "string" || !LABEL_NAME.test(name) || name.startsWith("__")) {
    throw new ValidationError("label name", `${JSON.stringify(name)} must match ${LABEL_NAME.source} and not start with "__"`);
  }
  return name;
}

/** No labels: one series. */
export const noLabels: LabelSpace = Object.freeze({
  names: Object.freeze([]) as readonly string[],
  size: () => 1,
  values: () => [],
});

/** One label whose values are added as they are first seen (e.g. `kind`); series `i` is the i-th value. */
export class GrowingLabel implements LabelSpace {
  readonly names: readonly string[];
  readonly #values: string[] = [];
  readonly #index = new Map<string, number>();

  constructor(name: string) {
    this.names = [assertLabelName(name)];
  }

  /** The series of `value`, added on first sight. */
  indexOf(value: string): number {
    let i = this.#index.get(value);
    if (i === undefined) {
      i = this.#values.length;
      this.#values.push(value);
      this.#index.set(value, i);
    }
    return i;
  }

  /** The series of `value`, or -1 if it was never added. */
  find(value: string): number {
    return this.#index.get(value) ?? -1;
  }

  size(): number {
    return this.#values.length;
  }

  values(i: number): readonly string[] {
    return [this.#values[i]];
  }

  /** Every value, in series order. */
  all(): readonly string[] {
    return this.#values;
  }
}

/**
 * Every series of `outer` crossed with one label of fixed values: series
 * `i * values.length + j` carries outer's `i`-th values and `values[j]`.
 */
export class CrossLabel implements LabelSpace {
  readonly names: readonly string[];
  readonly #outer: LabelSpace;
  readonly #values: readonly string[];

  constructor(outer: LabelSpace, name: string, values: readonly string[]) {
    assertLabelName(name);
    if (outer.names.includes(name)) throw new ValidationError("label name", `${JSON.stringify(name)} is used twice`);
    if (values.length === 0) throw new ValidationError(`label ${name}`, "needs at least one value");
    this.names = [...outer.names, name];
    this.#outer = outer;
    this.#values = [...values];
  }

  /** The series of outer series `i` with the `j`-th fixed value. */
  index(i: number, j: number): number {
    return i * this.#values.length + j;
  }

  size(): number {
    return this.#outer.size() * this.#values.length;
  }

  values(i: number): readonly string[] {
    const n = this.#values.length;
    return [...this.#outer.values(Math.floor(i / n)), this.#values[i % n]];
  }
}
