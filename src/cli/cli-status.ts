import type { Resource } from "../storage/resource.js";
import { parseCommandArgs } from "./cli-args.js";
import type { CliIO } from "./cli-io.js";
import { openTarget, parseTarget, TARGET_FLAGS, TARGET_USAGE, type Target } from "./cli-target.js";
import { formatTable, readinessOf, type Readiness } from "./resource-readiness.js";
import { barChart, convergenceChart } from "./terminal-chart.js";

export const STATUS_USAGE = `Usage: converge status [flags]

The fleet at a glance: per kind, how many resources there are, how many are
Ready, why the others are not (by the Ready condition's reason), and how many
are being deleted.

Flags:
  --watch           keep watching: a line per second with the Ready count and a
                    sparkline of it; on Ctrl-C/SIGTERM, a chart of Ready over time
`;

/** One kind's counts; `notReady` by reason ("(no Ready condition)" for resources not reconciled yet). */
export interface KindStatus {
  total: number;
  ready: number;
  notReady: Record<string, number>;
  deleting: number;
}

const NO_CONDITION = "(no Ready condition)";
const SAMPLE_MS = 1_000;
const SPARK_WIDTH = 30;

export function kindStatus(readiness: Iterable<Readiness>): KindStatus {
  const status: KindStatus = { total: 0, ready: 0, notReady: {}, deleting: 0 };
  for (const r of readiness) {
    status.total++;
    if (r.deleting) status.deleting++;
    if (r.ready === "True") status.ready++;
    else {
      const reason = r.ready === "-" ? NO_CONDITION : r.reason || `(Ready=${r.ready}, no reason)`;
      status.notReady[reason] = (status.notReady[reason] ?? 0) + 1;
    }
  }
  return status;
}

export function statusTable(fleet: ReadonlyMap<string, KindStatus>): string {
  if (fleet.size === 0) return "No resources.\n";
  const rows = [["KIND", "TOTAL", "READY", "NOT READY", "DELETING"]];
  for (const [kind, s] of fleet) {
    const notReady = Object.entries(s.notReady).sort((a, b) => b[1] - a[1]).map(([reason, n]) => `${n} ${reason}`).join(", ");
    rows.push([kind, String(s.total), String(s.ready), notReady || "0", String(s.deleting)]);
  }
  return formatTable(rows);
}

export async function runStatus(args: readonly string[], io: CliIO, signal: AbortSignal | undefined): Promise<number> {
  const { values } = parseCommandArgs("status", args, { ...TARGET_FLAGS, watch: { type: "boolean", short: "w" } }, []);
  if (values.help === true) {
    io.stdout.write(`${STATUS_USAGE}\n${TARGET_USAGE}`);
    return 0;
  }
  const target = parseTarget(values);
  const bucket = await openTarget(target, io, { create: false });
  try {
    if (values.watch === true) return await watchStatus(bucket, io, target.output, signal);
    const fleet = new Map<string, KindStatus>();
    for (const kind of await bucket.kinds()) fleet.set(kind, kindStatus((await bucket.storage.loadAll(kind)).map(readinessOf)));
    io.stdout.write(target.output === "json" ? `${JSON.stringify({ kinds: Object.fromEntries(fleet) }, null, 2)}\n` : statusTable(fleet));
    return 0;
  } finally {
    await bucket.close();
  }
}

/** Keeps every resource's readiness current from one watch of all kinds; samples the Ready counts each second. */
async function watchStatus(bucket: Target, io: CliIO, output: "table" | "json", signal: AbortSignal | undefined): Promise<number> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  signal?.addEventListener("abort", onSignal, { once: true });
  const fleet = new Map<string, Map<string, Readiness>>();
  const put = (r: Resource) => {
    let kind = fleet.get(r.kind);
    if (!kind) fleet.set(r.kind, (kind = new Map()));
    kind.set(r.uid, readinessOf(r));
  };
  const history = new Map<string, number[]>();
  let timer: ReturnType<typeof setInterval> | undefined;
  try {
    // Watch first, then load: a change between the two is seen, never missed.
    const changes = bucket.storage.watch(undefined, { signal: stop.signal });
    for (const kind of await bucket.kinds()) for (const r of await bucket.storage.loadAll(kind)) put(r);
    const sample = () => {
      const now = new Date();
      const counts = new Map([...fleet].sort(([a], [b]) => (a < b ? -1 : 1)).map(([kind, uids]) => [kind, kindStatus(uids.values())] as const));
      for (const [kind, s] of counts) {
        const h = history.get(kind) ?? [];
        h.push(s.ready);
        history.set(kind, h);
      }
      if (output === "json") {
        io.stdout.write(`${JSON.stringify({ at: now.toISOString(), kinds: Object.fromEntries(counts) })}\n`);
        return;
      }
      const parts = [...counts].map(([kind, s]) => {
        const recent = (history.get(kind) ?? []).slice(-SPARK_WIDTH);
        return `${kind} ${s.ready}/${s.total} Ready ${barChart(recent, s.total)[0]}${s.deleting > 0 ? ` (${s.deleting} deleting)` : ""}`;
      });
      io.stdout.write(`${now.toISOString().slice(11, 19)}  ${parts.join("  ") || "no resources"}\n`);
    };
    sample();
    timer = setInterval(sample, SAMPLE_MS);
    if (!stop.signal.aborted) {
      for await (const change of changes) {
        if (change.type === "put") put(change.value);
        else fleet.get(change.kind)?.delete(change.uid);
      }
    }
    clearInterval(timer);
    timer = undefined;
    if (output === "table") {
      for (const [kind, counts] of history) {
        const total = fleet.get(kind)?.size ?? 0;
        io.stdout.write(`\n${kind}: Ready over the last ${counts.length} s (one column per second)\n`);
        io.stdout.write(`${convergenceChart(counts, Math.max(total, ...counts), SAMPLE_MS).join("\n")}\n`);
      }
    }
    return 0;
  } finally {
    clearInterval(timer);
    signal?.removeEventListener("abort", onSignal);
    stop.abort();
  }
}
