import { StorageClient } from "../reconcile/storage-client.js";
import type { CliIO } from "./cli-io.js";
import { missingResource, openTarget, parseResourceCommand } from "./cli-target.js";

export const DELETE_USAGE = `Usage: converge delete <kind> <uid> [flags]

Deletes a resource. One with finalizers is only marked for deletion; its
reconciler cleans up, removes them, and the last removal deletes it.
`;

export async function runDelete(args: readonly string[], io: CliIO): Promise<number> {
  const parsed = parseResourceCommand("delete", args, io, DELETE_USAGE);
  if (parsed === undefined) return 0;
  const { kind, uid, target } = parsed;
  const bucket = await openTarget(target, io, { create: false });
  try {
    const client = new StorageClient(bucket.storage);
    if (!(await client.delete(kind, uid))) throw await missingResource(bucket, kind, uid);
    const left = await client.get(kind, uid);
    const finalizers = left?.metadata?.finalizers ?? [];
    const outcome = left === undefined ? "deleted" : "deleting";
    if (target.output === "json") io.stdout.write(`${JSON.stringify({ kind, uid, outcome, finalizers })}\n`);
    else io.stdout.write(left === undefined ? `${kind}/${uid} deleted\n` : `${kind}/${uid} marked for deletion; waiting for finalizers: ${finalizers.join(", ")}\n`);
    return 0;
  } finally {
    await bucket.close();
  }
}
