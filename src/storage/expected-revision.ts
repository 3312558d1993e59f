import { ValidationError } from "../codec/errors.js";
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
