import { describe, expect, it } from "vitest";
import { ValidationError } from "../../src/codec/errors.js";
import { Counter } from "../../src/metrics/metrics-counter.js";
import { escapeHelp, escapeLabelValue, exposition, formatValue, PROMETHEUS_CONTENT_TYPE } from "../../src/metrics/metrics-exposition.js";
import { Gauge } from "../../src/metrics/metrics-gauge.js";
import { Histogram, histogramQuantile } from "../../src/metrics/metrics-histogram.js";
import { CrossLabel, GrowingLabel, noLabels } from "../../src/metrics/metrics-labels.js";

// One sample line of format 0.0.4: name, optional {label="value",...}, value.
const LABEL_VALUE = String.raw`"(?:[^"\\\n]|\\[\\"n])*"`;
const LABELS = String.raw`\{[a-zA-Z_][a-zA-Z0-9_]*=${LABEL_VALUE}(?:,[a-zA-Z_][a-zA-Z0-9_]*=${LABEL_VALUE})*\}`;
const SAMPLE = new RegExp(String.raw`^[a-zA-Z_:][a-zA-Z0-9_:]*(?:${LABELS})? (?:[-+]?[0-9.]+(?:e[-+]?[0-9]+)?|\+Inf|-Inf|NaN)$`);

/** Every line must be a HELP, a TYPE or a sample, and the text must end in a line feed. */
function expectWellFormed(text: string): void {
  expect(text.endsWith("\n")).toBe(true);
  for (const line of text.slice(0, -1).split("\n")) {
    if (line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue;
    expect(line, line).toMatch(SAMPLE);
  }
}

describe("Prometheus text exposition 0.0.4", () => {
  it("writes HELP then TYPE before a family's samples, with the type's name", () => {
    const c = new Counter("jobs_total", "Jobs done.");
    const g = new Gauge("temperature", "Degrees.");
    c.inc();
    c.inc(0, 2);
    g.set(0, -1.5);
    const text = exposition([c, g]);
    expect(text).toBe(
      "# HELP jobs_total Jobs done.\n# TYPE jobs_total counter\njobs_total 3\n" +
        "# HELP temperature Degrees.\n# TYPE temperature gauge\ntemperature -1.5\n",
    );
    expect(PROMETHEUS_CONTENT_TYPE).toBe("text/plain; version=0.0.4; charset=utf-8");
  });

  it("escapes backslash, double quote and line feed in label values, and backslash and line feed in HELP", () => {
    const devices = new GrowingLabel("device");
    const c = new Counter("hits_total", 'Hits on a "device"\\ per\nline.', devices);
    c.inc(devices.indexOf('a"b\\c\nd'));
    c.inc(devices.indexOf("plain"), 4);
    const text = exposition([c]);
    expect(text).toContain('# HELP hits_total Hits on a "device"\\\\ per\\nline.\n');
    expect(text).toContain('hits_total{device="a\\"b\\\\c\\nd"} 1\n');
    expect(text).toContain('hits_total{device="plain"} 4\n');
    expectWellFormed(text);
    expect(escapeLabelValue('\\"\n')).toBe('\\\\\\"\\n');
    expect(escapeHelp('\\"\n')).toBe('\\\\"\\n');
  });

  it("writes histogram buckets cumulative, le inclusive, ending in +Inf, then _sum and _count", () => {
    const h = new Histogram("wait_seconds", "Wait.", [0.1, 1, 10]);
    for (const v of [0.05, 0.1, 0.5, 1, 3, 20, NaN]) if (!Number.isNaN(v)) h.observe(0, v);
    const text = exposition([h]);
    expect(text).toBe(
      [
        "# HELP wait_seconds Wait.",
        "# TYPE wait_seconds histogram",
        'wait_seconds_bucket{le="0.1"} 2',
        'wait_seconds_bucket{le="1"} 4',
        'wait_seconds_bucket{le="10"} 5',
        'wait_seconds_bucket{le="+Inf"} 6',
        "wait_seconds_sum 24.65",
        "wait_seconds_count 6",
        "",
      ].join("\n"),
    );
  });

  it("puts a histogram's own labels before le, and NaN in +Inf as client_golang does", () => {
    const kinds = new GrowingLabel("kind");
    const h = new Histogram("t_seconds", "T.", [1], kinds);
    h.observe(kinds.indexOf("Device"), 0.5);
    h.observe(kinds.indexOf("Switch"), NaN);
    const text = exposition([h]);
    expect(text).toContain('t_seconds_bucket{kind="Device",le="1"} 1\nt_seconds_bucket{kind="Device",le="+Inf"} 1\n');
    expect(text).toContain('t_seconds_sum{kind="Device"} 0.5\nt_seconds_count{kind="Device"} 1\n');
    expect(text).toContain('t_seconds_bucket{kind="Switch",le="1"} 0\nt_seconds_bucket{kind="Switch",le="+Inf"} 1\n');
    expect(text).toContain('t_seconds_sum{kind="Switch"} NaN\n');
    expectWellFormed(text);
  });

  it("spells special values as Go does and leaves out families with no series", () => {
    expect([NaN, Infinity, -Infinity, 0, 1e-7, 2.5].map(formatValue)).toEqual(["NaN", "+Inf", "-Inf", "0", "1e-7", "2.5"]);
    const empty = new Counter("never_total", "No kind seen yet.", new GrowingLabel("kind"));
    const g = new Gauge("g", "G.");
    g.set(0, Infinity);
    expect(exposition([empty, g])).toBe("# HELP g G.\n# TYPE g gauge\ng +Inf\n");
  });

  it("crosses labels: series i*n+j carries the outer values then the fixed one", () => {
    const kinds = new GrowingLabel("kind");
    const space = new CrossLabel(kinds, "outcome", ["ok", "failed"]);
    const c = new Counter("r_total", "R.", space);
    kinds.indexOf("A");
    const b = kinds.indexOf("B");
    c.inc(space.index(b, 1), 7);
    expect(exposition([c]).split("\n").slice(2, 6)).toEqual([
      'r_total{kind="A",outcome="ok"} 0',
      'r_total{kind="A",outcome="failed"} 0',
      'r_total{kind="B",outcome="ok"} 0',
      'r_total{kind="B",outcome="failed"} 7',
    ]);
  });

  it("reads callback gauges at every scrape, and reports NaN when the callback throws", () => {
    let depth = 3;
    let reads = 0;
    const g = new Gauge("depth", "D.", noLabels, (gauge) => {
      reads++;
      if (depth < 0) throw new Error("queue gone");
      gauge.set(0, depth);
    });
    expect(exposition([g])).toContain("\ndepth 3\n");
    depth = 8;
    expect(exposition([g])).toContain("\ndepth 8\n");
    depth = -1;
    expect(exposition([g])).toContain("\ndepth NaN\n");
    expect(reads).toBe(3);
  });

  it("rejects bad names, labels, buckets and decrements with errors naming them", () => {
    expect(() => new Counter("1bad", "x")).toThrow(ValidationError);
    expect(() => new Counter("has-dash", "x")).toThrow(/metric name: "has-dash" must match/);
    expect(() => new GrowingLabel("__reserved")).toThrow(/label name/);
    expect(() => new Histogram("h", "x", [1], new GrowingLabel("le"))).toThrow(/"le" is the histogram's own label/);
    expect(() => new Histogram("h", "x", [1, 1])).toThrow(/h buckets: must be strictly ascending, but 1 follows 1/);
    expect(() => new Histogram("h", "x", [1, Infinity])).toThrow(/bound 1 must be a finite number/);
    expect(() => new CrossLabel(new GrowingLabel("kind"), "kind", ["a"])).toThrow(/used twice/);
    expect(() => new Counter("c_total", "x").inc(0, -1)).toThrow(/c_total\.inc: by must be a number >= 0, got -1/);
  });

  it("grows a family when a series beyond its arrays is first written", () => {
    const kinds = new GrowingLabel("kind");
    const c = new Counter("c_total", "C.", kinds);
    const h = new Histogram("h_seconds", "H.", [1], kinds);
    for (let i = 0; i < 40; i++) {
      const k = kinds.indexOf(`K${i}`);
      c.inc(k, i);
      h.observe(k, i);
    }
    expect(c.get(kinds.indexOf("K39"))).toBe(39);
    expect(h.count(kinds.indexOf("K39"))).toBe(1);
    expect(h.sum(kinds.indexOf("K39"))).toBe(39);
    expect(h.count(kinds.indexOf("K0"))).toBe(1);
    expect(h.snapshot().count).toBe(40);
  });
});

describe("histogramQuantile", () => {
  it("interpolates within the bucket holding the rank, as PromQL's histogram_quantile", () => {
    const h = new Histogram("q", "Q.", [1, 2, 4]);
    for (let i = 0; i < 10; i++) h.observe(0, 0.5); // 10 in (0, 1]
    for (let i = 0; i < 10; i++) h.observe(0, 3); // 10 in (2, 4]
    const s = h.snapshot();
    expect(histogramQuantile(s, 0.25)).toBeCloseTo(0.5);
    expect(histogramQuantile(s, 0.75)).toBeCloseTo(3);
    expect(histogramQuantile(s, 1)).toBeCloseTo(4);
    h.observe(0, 100);
    expect(histogramQuantile(h.snapshot(), 1)).toBe(4); // in +Inf: the highest finite bound
    expect(histogramQuantile(new Histogram("e", "E.", [1]).snapshot(), 0.5)).toBeNaN();
    expect(() => histogramQuantile(s, 1.5)).toThrow(/quantile: must be a number in 0..1/);
  });
});
