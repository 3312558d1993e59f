/** Eighths of a character cell, empty to full: one column of a chart. */
const BLOCKS = [" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"];

/**
 * `values` as a bar chart `height` rows tall, one column per value, scaled so
 * `max` fills a column; the top row first. Each row is exactly values.length wide.
 */
export function barChart(values: readonly number[], max: number, height = 1): string[] {
  const rows: string[] = [];
  const eighths = values.map((value) => (max > 0 ? Math.round((Math.max(0, Math.min(value, max)) / max) * height * 8) : 0));
  for (let row = height - 1; row >= 0; row--) {
    rows.push(eighths.map((e) => BLOCKS[Math.max(0, Math.min(8, e - row * 8))]).join(""));
  }
  return rows;
}

/**
 * At most `width` values: the last value of each of `width` equal spans (a
 * count that only grows keeps its shape). Fewer values are kept as they are.
 */
export function downsample(values: readonly number[], width: number): number[] {
  if (values.length <= width) return [...values];
  const out: number[] = [];
  for (let i = 1; i <= width; i++) out.push(values[Math.ceil((i * values.length) / width) - 1]);
  return out;
}

/**
 * A small picture of convergence: converged count per interval as bars under
 * a scale line, e.g.
 *
 *   10000 ┤      ▃▆█████
 *         ┤   ▂▅████████
 *       0 ┤▁▄███████████
 *          0 s        6 s
 */
export function convergenceChart(counts: readonly number[], total: number, intervalMs: number, options: { width?: number; height?: number } = {}): string[] {
  const width = options.width ?? 60;
  const height = options.height ?? 4;
  // A short run is stretched (each sample over several columns) so the shape stays readable.
  const repeat = Math.max(1, Math.floor(width / Math.max(1, counts.length)));
  const columns = downsample(counts.flatMap((count) => Array<number>(repeat).fill(count)), width);
  const rows = barChart(columns, total, height);
  const top = String(total);
  const pad = top.length;
  const lines = rows.map((row, i) => `${(i === 0 ? top : i === rows.length - 1 ? "0" : "").padStart(pad)} ┤${row}`);
  const seconds = (counts.length * intervalMs) / 1_000;
  const start = "0 s";
  const end = `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  lines.push(`${" ".repeat(pad + 2)}${start}${end.padStart(Math.max(columns.length - start.length, end.length + 1))}`);
  return lines;
}
