import type { Counter } from "./metrics-counter.js";
import type { Gauge } from "./metrics-gauge.js";
import type { Histogram } from "./metrics-histogram.js";

/** What a metrics endpoint answers with: Prometheus's text exposition format 0.0.4. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export type MetricFamily = Counter | Gauge | Histogram;

/**
 * Renders `families` in the text exposition format 0.0.4: `# HELP` and
 * `# TYPE` per family, one line per series (histograms: cumulative
 * `_bucket{le}` lines ending in `+Inf`, then `_sum` and `_count`). Callback
 * gauges are read first. A family with no series is left out.
 */
export function exposition(families: readonly MetricFamily[]): string {
  let out = "";
  for (const family of families) {
    family.collect();
    const series = family.labels.size();
    if (series === 0) continue;
    out += `# HELP ${family.name} ${escapeHelp(family.help)}\n# TYPE ${family.name} ${family.type}\n`;
    for (let i = 0; i < series; i++) {
      const labels = renderLabels(family.labels.names, family.labels.values(i));
      if (family.type !== "histogram") {
        out += `${family.name}${braced(labels)} ${formatValue(family.get(i))}\n`;
        continue;
      }
      const counts = family.cumulative(i);
      const sep = labels === "" ? "" : ",";
      family.bounds.forEach((le, b) => {
        out += `${family.name}_bucket{${labels}${sep}le="${formatValue(le)}"} ${formatValue(counts[b])}\n`;
      });
      const count = counts[counts.length - 1];
      out += `${family.name}_bucket{${labels}${sep}le="+Inf"} ${formatValue(count)}\n`;
      out += `${family.name}_sum${braced(labels)} ${formatValue(family.sum(i))}\n`;
      out += `${family.name}_count${braced(labels)} ${formatValue(count)}\n`;
    }
  }
  return out;
}

function renderLabels(names: readonly string[], values: readonly string[]): string {
  let out = "";
  for (let i = 0; i < names.length; i++) out += `${i === 0 ? "" : ","}${names[i]}="${escapeLabelValue(values[i])}"`;
  return out;
}

function braced(labels: string): string {
  return labels === "" ? "" : `{${labels}}`;
}

/** A label value as the format wants it: backslash, double quote and line feed escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`));
}

/** A HELP text as the format wants it: backslash and line feed escaped (quotes are fine there). */
export function escapeHelp(help: string): string {
  return help.replace(/[\\\n]/g, (c) => (c === "\n" ? "\\n" : "\\\\"));
}

/** A sample value: Go's spelling of the special values (`+Inf`, `-Inf`, `NaN`), shortest round-trip otherwise. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
