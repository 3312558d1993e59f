import type { Condition } from "../reconcile/conditions.js";
import type { Resource } from "../storage/resource.js";

/** What an operator asks first of a resource: is it Ready, and if not, why. */
export interface Readiness {
  /** The Ready condition's status; "-" when the resource has none yet. */
  ready: "True" | "False" | "Unknown" | "-";
  /** The Ready condition's reason ("" when none). */
  reason: string;
  /** When Ready last changed (ms since the epoch), when known. */
  since: number | undefined;
  /** Marked for deletion, held by finalizers. */
  deleting: boolean;
}

export function conditionsOf(resource: Resource): Condition[] {
  const conditions = (resource.status as { conditions?: unknown } | undefined)?.conditions;
  return Array.isArray(conditions) ? (conditions as Condition[]) : [];
}

export function readinessOf(resource: Resource): Readiness {
  const ready = conditionsOf(resource).find((c) => c?.type === "Ready");
  const since = ready ? Date.parse(ready.lastTransitionTime) : NaN;
  return {
    ready: ready && ["True", "False", "Unknown"].includes(ready.status) ? ready.status : "-",
    reason: typeof ready?.reason === "string" ? ready.reason : "",
    since: Number.isFinite(since) ? since : undefined,
    deleting: resource.metadata?.deletedAt !== undefined,
  };
}

/** `--selector zone=eu,tier=edge`: every label must match. */
export function matchesSelector(resource: Resource, selector: Readonly<Record<string, string>>): boolean {
  const labels = resource.metadata?.labels ?? {};
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

/** `5s`, `3m`, `2h`, `4d`, as kubectl prints an age. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1_000));
  if (s < 120) return `${s}s`;
  if (s < 7_200) return `${Math.floor(s / 60)}m`;
  if (s < 172_800) return `${Math.floor(s / 3_600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/** Rows as left-aligned columns two spaces apart, the first row a header. */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join("  ")).join("\n") + "\n";
}
