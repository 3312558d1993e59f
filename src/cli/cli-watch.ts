import { KindSchema } from "../codec/names.js";
import type { StorageChange } from "../storage/storage.js";
import { parseCommandArgs } from "./cli-args.js";
import type { CliIO } from "./cli-io.js";
import { checkName, openTarget, parseTarget, TARGET_FLAGS, TARGET_USAGE, unknownKind } from "./cli-target.js";
import { readinessOf } from "./resource-readiness.js";

export const WATCH_USAGE = `Usage: converge watch <kind> [flags]

Prints one line per change of a resource of the kind (-o json: one JSON
object per line), until Ctrl-C or SIGTERM.
`;

export async function runWatch(args: readonly string[], io: CliIO, signal: AbortSignal | undefined): Promise<number> {
  const { values, positionals } = parseCommandArgs("watch", args, TARGET_FLAGS, ["kind"]);
  if (values.help === true) {
    io.stdout.write(`${WATCH_USAGE}\n${TARGET_USAGE}`);
    return 0;
  }
  const kind = checkName(KindSchema, positionals.kind, "<kind>");
  const target = parseTarget(values);
  const bucket = await openTarget(target, io, { create: false });
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  signal?.addEventListener("abort", onSignal, { once: true });
  try {
    const changes = bucket.storage.watch(kind, { signal: stop.signal });
    // Waits until the watch is in place, so every change after this line is printed.
    if ((await bucket.storage.list(kind)).length === 0) throw await unknownKind(bucket, kind);
    io.stderr.write(`watching ${kind} in ${bucket.where} (Ctrl-C to stop)\n`);
    if (signal?.aborted) return 0;
    for await (const change of changes) {
      io.stdout.write(`${target.output === "json" ? JSON.stringify(changeJson(change)) : changeLine(change, new Date())}\n`);
    }
    return 0;
  } finally {
    signal?.removeEventListener("abort", onSignal);
    stop.abort();
    await bucket.close();
  }
}

/** `2026-12-06T02:30:00.000Z  PUT     dev-1  revision=12 generation=2 ready=True reason=DeviceRunning` */
export function changeLine(change: StorageChange, at: Date): string {
  const head = `${at.toISOString()}  ${change.type.toUpperCase().padEnd(6)}  ${change.uid}  revision=${change.revision}`;
  if (change.type === "delete") return head;
  const readiness = readinessOf(change.value);
  return `${head} generation=${change.value.metadata?.generation ?? "-"} ready=${readiness.ready} reason=${readiness.reason || "-"}${readiness.deleting ? " deleting" : ""}`;
}

function changeJson(change: StorageChange): object {
  return change.type === "delete"
    ? { type: "delete", kind: change.kind, uid: change.uid, revision: change.revision }
    : { type: "put", kind: change.kind, uid: change.uid, revision: change.revision, resource: change.value };
}
