import { readFile } from "node:fs/promises";
import { dequal } from "dequal";
import { ValidationError } from "../codec/errors.js";
import { parseResource } from "../codec/resource-schema.js";
import { StorageClient } from "../reconcile/storage-client.js";
import { ConflictError } from "../storage/errors.js";
import type { Resource } from "../storage/resource.js";
import { parseCommandArgs } from "./cli-args.js";
import type { CliIO } from "./cli-io.js";
import { openTarget, parseTarget, TARGET_FLAGS, TARGET_USAGE, TargetError } from "./cli-target.js";
import { UsageError } from "./usage-error.js";

export const APPLY_USAGE = `Usage: converge apply -f FILE [flags]

Creates each resource in FILE (JSON: one resource or an array; - reads stdin),
or updates its spec and labels: generation is bumped when the spec changes,
status and finalizers are left to the controller. Each write is a
compare-and-swap on the revision it read, retried when the controller wrote in
between; a metadata.revision in the file pins it (a stale one fails).

Flags:
  -f, --filename F  the JSON file, or - for stdin (required)
`;

/** A write that keeps losing the compare-and-swap to other writers gives up after this many tries. */
const APPLY_ATTEMPTS = 10;
/** Metadata an operator may set; the rest belongs to the server (revision, generation) or to reconcilers. */
const OWNED_BY_OTHERS = ["finalizers", "ownerUid", "ownerKind", "deletedAt"] as const;

export type ApplyOutcome = "created" | "configured" | "unchanged";

export async function runApply(args: readonly string[], io: CliIO): Promise<number> {
  const { values } = parseCommandArgs("apply", args, { ...TARGET_FLAGS, filename: { type: "string", short: "f" } }, []);
  if (values.help === true) {
    io.stdout.write(`${APPLY_USAGE}\n${TARGET_USAGE}`);
    return 0;
  }
  if (typeof values.filename !== "string" || values.filename === "") throw new UsageError("-f", "is required: the JSON file to apply, or - for stdin");
  const target = parseTarget(values);
  const source = values.filename;
  const text = source === "-" ? await readStdin(io) : await readFile(source, "utf8").catch((error: unknown) => {
    throw new TargetError(`cannot read ${source}: ${(error as Error).message}`, { cause: error });
  });
  const desired = parseApplyInput(text, source === "-" ? "stdin" : source);
  const bucket = await openTarget(target, io, { create: true });
  try {
    const client = new StorageClient(bucket.storage);
    const results: { kind: string; uid: string; outcome: ApplyOutcome; generation: number | undefined; revision: number | undefined }[] = [];
    for (const resource of desired) {
      const { outcome, stored } = await applyOne(client, resource);
      results.push({ kind: resource.kind, uid: resource.uid, outcome, generation: stored.metadata?.generation, revision: stored.metadata?.revision });
      if (target.output === "table") io.stdout.write(`${resource.kind}/${resource.uid} ${outcome} (generation ${stored.metadata?.generation ?? "-"})\n`);
    }
    if (target.output === "json") io.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
    return 0;
  } finally {
    await bucket.close();
  }
}

/** Applies one resource: create when missing, else spec and labels on the stored copy. */
export async function applyOne(client: StorageClient, desired: Resource): Promise<{ outcome: ApplyOutcome; stored: Resource }> {
  const pinned = desired.metadata?.revision;
  for (let attempt = 1; ; attempt++) {
    const current = await client.get(desired.kind, desired.uid);
    try {
      if (current === undefined) {
        if (pinned !== undefined) throw new TargetError(`${desired.kind}/${desired.uid} does not exist, so metadata.revision ${pinned} cannot hold`);
        const labels = desired.metadata?.labels;
        const stored = await client.create({ kind: desired.kind, uid: desired.uid, spec: desired.spec, ...(labels ? { metadata: { labels } } : {}) });
        return { outcome: "created", stored };
      }
      const labels = desired.metadata?.labels ?? current.metadata?.labels;
      if (dequal(current.spec, desired.spec) && dequal(current.metadata?.labels, labels) && pinned === undefined) {
        return { outcome: "unchanged", stored: current };
      }
      const metadata = { ...current.metadata, revision: pinned ?? current.metadata?.revision };
      if (labels === undefined) delete metadata.labels;
      else metadata.labels = labels;
      const stored = await client.update({ kind: desired.kind, uid: desired.uid, spec: desired.spec, ...(current.status === undefined ? {} : { status: current.status }), metadata });
      return { outcome: "configured", stored };
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      if (pinned !== undefined) {
        throw new TargetError(`${desired.kind}/${desired.uid} changed: metadata.revision ${pinned} is not its revision (${error.actualRevision ?? "deleted"}); get it again`);
      }
      // Someone (often the controller's status write) wrote in between: read again.
      if (attempt >= APPLY_ATTEMPTS) throw new TargetError(`${desired.kind}/${desired.uid} kept changing during ${APPLY_ATTEMPTS} attempts; try again`);
    }
  }
}

/** The resources of an apply file, validated; `where` names the file in messages. */
export function parseApplyInput(text: string, where: string): Resource[] {
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch (error) {
    throw new ValidationError(where, `is not valid JSON: ${(error as Error).message}`);
  }
  const items = Array.isArray(input) ? input : [input];
  if (items.length === 0) throw new ValidationError(where, "holds no resources (an empty array)");
  return items.map((item, i) => {
    const path = Array.isArray(input) ? `${where}[${i}]` : where;
    const parsed = parseResource(item, path);
    if (parsed.spec === undefined) throw new ValidationError(`${path}.spec`, "is required");
    for (const key of OWNED_BY_OTHERS) {
      if (parsed.metadata?.[key] !== undefined) {
        throw new ValidationError(`${path}.metadata.${key}`, "is set by reconcilers and `converge delete`, not by apply");
      }
    }
    // Status is the controller's; `get -o json` output can be applied as it is.
    const resource: Resource = { kind: parsed.kind, uid: parsed.uid, spec: parsed.spec };
    const { revision, labels } = (parsed.metadata ?? {}) as Resource["metadata"] & {};
    if (revision !== undefined || labels !== undefined) resource.metadata = { ...(revision !== undefined ? { revision } : {}), ...(labels ? { labels } : {}) };
    return resource;
  });
}

async function readStdin(io: CliIO): Promise<string> {
  if (!io.stdin) throw new UsageError("-f", "- reads stdin, and there is none here");
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of io.stdin) text += typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true });
  return text + decoder.decode();
}
