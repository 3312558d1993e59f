import * as v from "valibot";
import { KindSchema } from "../codec/names.js";
import type { Resource } from "../storage/resource.js";
import { parseCommandArgs, validateFlags } from "./cli-args.js";
import type { CliIO } from "./cli-io.js";
import { checkName, openTarget, parseTarget, TARGET_FLAGS, TARGET_USAGE, unknownKind } from "./cli-target.js";
import { formatAge, formatTable, matchesSelector, readinessOf } from "./resource-readiness.js";

export const LIST_USAGE = `Usage: converge list <kind> [flags]

Lists the resources of a kind: uid, generation, Ready, its reason and age
(how long Ready has had its current status).

Flags:
  --selector K=V    only resources with these labels (comma-separated, all must match)
  --not-ready       only resources whose Ready condition is not True
`;

const SELECTOR = /^[A-Za-z0-9_./-]+=[^,=]*(,[A-Za-z0-9_./-]+=[^,=]*)*$/;

const ListFlagsSchema = v.object({
  selector: v.optional(v.pipe(v.string(), v.regex(SELECTOR, "must be key=value (comma-separated for several)"))),
});

/** `zone=eu,tier=edge` → `{ zone: "eu", tier: "edge" }`. */
export function parseSelector(text: string): Record<string, string> {
  return Object.fromEntries(text.split(",").map((pair) => pair.split("=", 2) as [string, string]));
}

/** `converge list <kind>`: resolves with the exit status; `undefined` args means help was asked for. */
export async function runList(args: readonly string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseCommandArgs("list", args, { ...TARGET_FLAGS, selector: { type: "string" }, "not-ready": { type: "boolean" } }, ["kind"]);
  if (values.help === true) {
    io.stdout.write(`${LIST_USAGE}\n${TARGET_USAGE}`);
    return 0;
  }
  const kind = checkName(KindSchema, positionals.kind, "<kind>");
  const flags = validateFlags(ListFlagsSchema, { selector: values.selector }, { selector: "--selector" }, () => JSON.stringify(values.selector));
  const target = parseTarget(values);
  const selector = flags.selector === undefined ? {} : parseSelector(flags.selector);
  const bucket = await openTarget(target, io, { create: false });
  try {
    const all = await bucket.storage.loadAll(kind);
    if (all.length === 0) throw await unknownKind(bucket, kind);
    const shown = all
      .filter((r) => matchesSelector(r, selector) && (values["not-ready"] !== true || readinessOf(r).ready !== "True"))
      .sort((a, b) => (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0));
    io.stdout.write(target.output === "json" ? `${JSON.stringify(shown, null, 2)}\n` : listTable(shown, Date.now()));
    return 0;
  } finally {
    await bucket.close();
  }
}

export function listTable(resources: readonly Resource[], now: number): string {
  if (resources.length === 0) return "No resources match.\n";
  const rows = [["UID", "GENERATION", "READY", "REASON", "AGE"]];
  for (const r of resources) {
    const readiness = readinessOf(r);
    const reason = readiness.deleting ? `${readiness.reason || "-"} (deleting)` : readiness.reason || "-";
    rows.push([r.uid, String(r.metadata?.generation ?? "-"), readiness.ready, reason, readiness.since === undefined ? "-" : formatAge(now - readiness.since)]);
  }
  return formatTable(rows);
}
