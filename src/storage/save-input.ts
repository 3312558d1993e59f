import { ValidationError } from "../codec/errors.js";
import { assertKind, assertUid } from "../codec/names.js";
import { checkResource, parseResourceCopy, type ParsedResource } from "../codec/resource-schema.js";
import { ConflictError } from "./errors.js";
import type { DeleteOptions, SaveOptions } from "./storage.js";

/** The validated `expectedRevision` of a save or delete (undefined: unconditional). */
export function expectedRevisionOf(options: SaveOptions | DeleteOptions | undefined): number | undefined {
  if (options === undefined) return undefined;
  if (options === null || typeof options !== "object") {
    throw new ValidationError("options", `must be an object such as { expectedRevision: 3 }, got ${options === null ? "null" : typeof options}`);
  }
  const expected: unknown = options.expectedRevision;
  if (expected === undefined) return undefined;
  if (typeof expected !== "number" || !Number.isSafeInteger(expected) || expected < 0) {
    const shown = typeof expected === "string" ? JSON.stringify(expected) : typeof expected === "object" ? `(${expected === null ? "null" : "object"})` : String(expected);
    throw new ValidationError("options.expectedRevision", `${shown} must be a non-negative integer`);
  }
  return expected;
}

/** `0` means "must not exist"; any other number must be the current revision. */
export function checkExpected(kind: string, uid: string, expected: number | undefined, actual: number | undefined): void {
  if (expected === undefined) return;
  if (expected === 0 ? actual !== undefined : actual !== expected) {
    throw new ConflictError(kind, uid, expected, actual);
  }
}

/**
 * What every backend checks before a save: valid names, a valid resource
 * whose kind and uid are the ones it is saved under, and valid options. The
 * caller's object is never touched. `keep: "copy"` (a store that keeps the
 * object) gets a deep copy it owns; `"encode"` (a store that only encodes it)
 * gets fresh top-level and metadata objects, to drop the revision from,
 * around the caller's spec and status.
 */
export function parseSave(
  kind: string,
  uid: string,
  value: unknown,
  options: SaveOptions | undefined,
  keep: "copy" | "encode",
): { resource: ParsedResource; expected: number | undefined } {
  assertKind(kind, "kind");
  assertUid(uid, "uid");
  const expected = expectedRevisionOf(options);
  const resource = keep === "copy" ? parseResourceCopy(value, "value", kind, uid) : freshTop(checkResource(value, "value", kind, uid));
  if (resource.kind !== kind) {
    throw new ValidationError("value.kind", `${JSON.stringify(resource.kind)} does not match the kind argument ${JSON.stringify(kind)}`);
  }
  if (resource.uid !== uid) {
    throw new ValidationError("value.uid", `${JSON.stringify(resource.uid)} does not match the uid argument ${JSON.stringify(uid)}`);
  }
  return { resource, expected };
}

function freshTop(resource: ParsedResource): ParsedResource {
  return resource.metadata === undefined ? { ...resource } : { ...resource, metadata: { ...resource.metadata } };
}
