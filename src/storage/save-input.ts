import { ValidationError } from "../codec/errors.js";
import { assertKind, assertUid } from "../codec/names.js";
import { parseResourceCopy, type ParsedResource } from "../codec/resource-schema.js";
import { deepCopy } from "./deep-copy.js";
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
 * resource comes back as a deep copy the backend owns (the caller's object is
 * never touched, nor kept), so the in-memory store keeps it as it is.
 */
export function parseSave(kind: string, uid: string, value: unknown, options: SaveOptions | undefined): { resource: ParsedResource; expected: number | undefined } {
  assertKind(kind, "kind");
  assertUid(uid, "uid");
  const expected = expectedRevisionOf(options);
  const resource = parseResourceCopy(value, "value", copyForStorage);
  if (resource.kind !== kind) {
    throw new ValidationError("value.kind", `${JSON.stringify(resource.kind)} does not match the kind argument ${JSON.stringify(kind)}`);
  }
  if (resource.uid !== uid) {
    throw new ValidationError("value.uid", `${JSON.stringify(resource.uid)} does not match the uid argument ${JSON.stringify(uid)}`);
  }
  return { resource, expected };
}

function copyForStorage<T>(value: T): T {
  try {
    return deepCopy(value);
  } catch (cause) {
    throw new ValidationError("value", `cannot be stored: ${(cause as Error).message}`, { cause });
  }
}
