/** `12.3M/s`-style rate. */
export function rate(perSecond: number): string {
  if (!Number.isFinite(perSecond)) return String(perSecond);
  if (perSecond >= 1e9) return `${(perSecond / 1e9).toFixed(2)}G/s`;
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)}M/s`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(1)}k/s`;
  return `${perSecond.toFixed(0)}/s`;
}

/** Milliseconds with a precision that fits their size. */
export function ms(value: number): string {
  const a = Math.abs(value);
  if (a >= 100) return `${value.toFixed(0)} ms`;
  if (a >= 10) return `${value.toFixed(1)} ms`;
  return `${value.toFixed(3)} ms`;
}

/** Nanoseconds or microseconds, whichever reads better. */
export function nsOrUs(nanoseconds: number): string {
  return nanoseconds >= 10_000 ? `${(nanoseconds / 1000).toFixed(1)} µs` : `${nanoseconds.toFixed(0)} ns`;
}

export function ratio(value: number): string {
  return `${value >= 10 ? value.toFixed(1) : value.toFixed(2)}x`;
}

export function int(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

/** A GitHub-flavoured markdown table. */
export function table(headers: string[], rows: (string | number)[][], align?: ("l" | "r")[]): string {
  const sep = headers.map((_, i) => ((align?.[i] ?? (i === 0 ? "l" : "r")) === "r" ? "---:" : "---"));
  const line = (cells: (string | number)[]) => `| ${cells.map((c) => String(c).replaceAll("|", "\\|")).join(" | ")} |`;
  return [line(headers), `|${sep.join("|")}|`, ...rows.map(line)].join("\n");
}
