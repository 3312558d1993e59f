// A hand-written SVG: empirical CDFs of timer lateness. No dependencies.

export interface CdfSeries {
  label: string;
  color: string;
  dashed?: boolean;
  /** Lateness samples in ms (negative = fired early), or their sketch (a run in another process). */
  values: Float64Array | CdfSketch;
  /** Extra text for the legend, e.g. "p99 0.42 ms, max 1.1 ms, 0 early". */
  note: string;
}

export interface CdfPlotOptions {
  title: string;
  subtitle: string;
  xMin: number;
  xMax: number;
  xLabel: string;
}

const W = 800;
/** The y axis ends at 99.999%: "all" (with 100k keys that is the last one). */
const TOP_NINES = 5;
/** Plot height; the legend below it grows with the series. */
const PLOT_H = 248;
const M = { left: 70, right: 24, top: 62, bottomAxis: 60 };

/**
 * A distribution carried between processes: its quantiles at fixed levels, dense in
 * the tail (the plot's nines scale), so a few hundred numbers draw what 100k samples do.
 */
export interface CdfSketch {
  levels: number[];
  quantiles: number[];
}

const SKETCH_LEVELS: number[] = (() => {
  const levels = new Set<number>();
  for (let i = 0; i <= 200; i++) levels.add(i / 200);
  // 1 - 10^-d for d in 1..TOP_NINES in steps of 0.025: 40 points per nine.
  for (let k = 40; k <= TOP_NINES * 40; k++) levels.add(Number((1 - 10 ** (-k / 40)).toPrecision(12)));
  return [...levels].sort((a, b) => a - b);
})();

export function cdfSketch(values: Float64Array): CdfSketch {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  const quantiles = SKETCH_LEVELS.map((f) => (n === 0 ? 0 : Number(sorted[Math.min(n - 1, Math.max(0, Math.ceil(f * n) - 1))].toFixed(4))));
  return { levels: SKETCH_LEVELS, quantiles };
}

/** The sketch's quantile at `level` (nearest level at or above it). */
export function sketchQuantile(sketch: CdfSketch, level: number): number {
  const i = sketch.levels.findIndex((f) => f >= level);
  return sketch.quantiles[i === -1 ? sketch.quantiles.length - 1 : i];
}

function esc(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");
}

/** How many of `sorted` are <= x (binary search). */
function countAtMost(sorted: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The empirical CDF of samples, or the step function through a sketch's quantiles. */
function cdfOf(values: Float64Array | CdfSketch): (x: number) => number {
  if (values instanceof Float64Array) {
    const sorted = Float64Array.from(values).sort();
    return (x) => (sorted.length === 0 ? 0 : countAtMost(sorted, x) / sorted.length);
  }
  return (x) => {
    const i = countAtMost(values.quantiles, x);
    return i === 0 ? 0 : values.levels[i - 1];
  };
}

function niceStep(range: number): number {
  const raw = range / 10;
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

/** Empirical CDFs of `series` over [xMin, xMax]; values outside are clipped (the legend gives the tails). */
export function cdfPlotSvg(series: CdfSeries[], opts: CdfPlotOptions): string {
  const plotW = W - M.left - M.right;
  const plotH = PLOT_H;
  const H = M.top + plotH + M.bottomAxis + 20 * series.length + 10;
  const sx = (x: number) => M.left + ((x - opts.xMin) / (opts.xMax - opts.xMin)) * plotW;
  // The "nines" scale: p50, p90, p99, p99.9, … equally spaced, so the tail that decides lateness targets is visible.
  const nines = (f: number) => Math.min(TOP_NINES, -Math.log10(Math.max(10 ** -TOP_NINES, 1 - f)));
  const sy = (f: number) => M.top + (1 - nines(f) / TOP_NINES) * plotH;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${M.left}" y="24" font-size="16" font-weight="bold">${esc(opts.title)}</text>`);
  out.push(`<text x="${M.left}" y="44" fill="#555">${esc(opts.subtitle)}</text>`);
  // The early region: anything plotted here fired before its due time.
  if (opts.xMin < 0) {
    out.push(`<rect x="${sx(opts.xMin)}" y="${M.top}" width="${sx(0) - sx(opts.xMin)}" height="${plotH}" fill="#fde2e2"/>`);
    out.push(`<text x="${sx(opts.xMin) + 6}" y="${M.top + 16}" fill="#b42318">fired early</text>`);
  }
  // Grid and axes.
  const step = niceStep(opts.xMax - opts.xMin);
  for (let x = Math.ceil(opts.xMin / step) * step; x <= opts.xMax + 1e-9; x += step) {
    const px = sx(x).toFixed(1);
    out.push(`<line x1="${px}" y1="${M.top}" x2="${px}" y2="${M.top + plotH}" stroke="${Math.abs(x) < 1e-9 ? "#333" : "#e5e5e5"}"/>`);
    out.push(`<text x="${px}" y="${M.top + plotH + 16}" text-anchor="middle">${Number(x.toFixed(3))}</text>`);
  }
  for (const [f, label] of [[0.5, "50%"], [0.9, "90%"], [0.99, "99%"], [0.999, "99.9%"], [0.9999, "99.99%"], [1, "all"]] as const) {
    const py = sy(f).toFixed(1);
    out.push(`<line x1="${M.left}" y1="${py}" x2="${M.left + plotW}" y2="${py}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${M.left - 6}" y="${(sy(f) + 4).toFixed(1)}" text-anchor="end">${label}</text>`);
  }
  out.push(`<rect x="${M.left}" y="${M.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${M.left + plotW / 2}" y="${M.top + plotH + 36}" text-anchor="middle">${esc(opts.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${M.top + plotH / 2}) rotate(-90)" text-anchor="middle">keys fired by then (percentile scale)</text>`);
  // Curves.
  const points = 600;
  for (const s of series) {
    const cdf = cdfOf(s.values);
    const coords: string[] = [];
    for (let i = 0; i <= points; i++) {
      const x = opts.xMin + ((opts.xMax - opts.xMin) * i) / points;
      coords.push(`${sx(x).toFixed(1)},${sy(cdf(x)).toFixed(1)}`);
    }
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ""} points="${coords.join(" ")}"/>`);
  }
  // Legend under the plot.
  let ly = M.top + plotH + 60;
  for (const s of series) {
    out.push(`<line x1="${M.left}" y1="${ly - 4}" x2="${M.left + 28}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`);
    out.push(`<text x="${M.left + 36}" y="${ly}"><tspan font-weight="bold">${esc(s.label)}</tspan>: ${esc(s.note)}</text>`);
    ly += 20;
  }
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
