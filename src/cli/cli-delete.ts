import { KindSchema, UidSchema } from "../codec/names.js";
import { StorageClient } from "../reconcile/storage-client.js";
import { parseCommandArgs } from "./cli-args.js";
import type { CliIO } from "./cli-io.js";
import { checkName, openTarget, parseTarget, TARGET_FLAGS, TARGET_USAGE, TargetError, unknownKind } from "./cli-target.js";

export const DELETE_USAGE = `Usage: converge delete <kind> <uid> [flags]

Deletes a resource. One with finalizers is only marked for deletion; its
reconciler cleans up, removes them, and the last removal deletes it.
`;

export async function runDelete(args: readonly string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseCommandArgs("delete", args, TARGET_FLAGS, ["kind", "uid"]);
  if (values.help === true) {
    io.stdout.write(`${DELETE_USAGE}\n${TARGET_USAGE}`);
    return 0;
  }
  const kind = checkName(KindSchema, positionals.kind, "<kind>");
  const uid = checkName(UidSchema, positionals.uid, "<uid>");
  const target = parseTarget(values);
  const bucket = await openTarget(target, io, { create: false });
  try {
    const client = new StorageClient(bucket.storage);
    if (!(await client.delete(kind, uid))) {
      if ((await bucket.storage.list(kind)).length === 0) throw await unknownKind(bucket, kind);
      throw new TargetError(`${kind}/${uid} does not exist in ${bucket.where}`);
    }
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
