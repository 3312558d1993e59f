import type { Resource } from "../storage/resource.js";
import type { CliIO } from "./cli-io.js";
import { missingResource, openTarget, parseResourceCommand } from "./cli-target.js";
import { conditionsOf, formatAge, formatTable } from "./resource-readiness.js";

export const GET_USAGE = `Usage: converge get <kind> <uid> [flags]

Shows one resource: its metadata, spec, status and conditions
(-o json: the resource as stored).
`;

export async function runGet(args: readonly string[], io: CliIO): Promise<number> {
  const parsed = parseResourceCommand("get", args, io, GET_USAGE);
  if (parsed === undefined) return 0;
  const { kind, uid, target } = parsed;
  const bucket = await openTarget(target, io, { create: false });
  try {
    const resource = await bucket.storage.load(kind, uid);
    if (resource === undefined) throw await missingResource(bucket, kind, uid);
    io.stdout.write(target.output === "json" ? `${JSON.stringify(resource, null, 2)}\n` : describeResource(resource, Date.now()));
    return 0;
  } finally {
    await bucket.close();
  }
}

/** `get`'s human form: a few header lines, then spec and status as indented JSON, then the conditions. */
export function describeResource(resource: Resource, now: number): string {
  const m = resource.metadata ?? {};
  const lines = [`${resource.kind}/${resource.uid}`, `  revision    ${m.revision ?? "-"}`, `  generation  ${m.generation ?? "-"}`];
  const labels = Object.entries(m.labels ?? {});
  if (labels.length > 0) lines.push(`  labels      ${labels.map(([k, v]) => `${k}=${v}`).join(", ")}`);
  if (m.ownerUid !== undefined) lines.push(`  owner       ${m.ownerKind ?? "?"}/${m.ownerUid}`);
  if ((m.finalizers?.length ?? 0) > 0) lines.push(`  finalizers  ${m.finalizers!.join(", ")}`);
  if (m.deletedAt !== undefined) lines.push(`  deleting    since ${m.deletedAt}`);
  const { conditions: _conditions, ...status } = (resource.status ?? {}) as Record<string, unknown>;
  lines.push("spec:", indent(JSON.stringify(resource.spec, null, 2)));
  lines.push("status:", indent(resource.status === undefined ? "(none yet)" : JSON.stringify(status, null, 2)));
  const conditions = conditionsOf(resource);
  lines.push("conditions:");
  if (conditions.length === 0) lines.push("  (none)");
  else {
    const rows = [["TYPE", "STATUS", "REASON", "AGE", "GENERATION", "MESSAGE"]];
    for (const c of conditions) {
      const since = Date.parse(c.lastTransitionTime);
      rows.push([c.type, c.status, c.reason || "-", Number.isFinite(since) ? formatAge(now - since) : "-", String(c.observedGeneration ?? "-"), c.message || ""]);
    }
    lines.push(indent(formatTable(rows).trimEnd()));
  }
  return `${lines.join("\n")}\n`;
}

function indent(text: string): string {
  return text.replace(/^/gm, "  ");
}
