import * as v from "valibot";
import { ValidationError } from "./errors.js";
import { isKind, isUid, KindSchema, UidSchema } from "./names.js";

import { deepCopy } from "./deep-copy.js";
import { copyPlainData, isPlainData, MAX_RESOURCE_DEPTH, MAX_WRITTEN_VALUES, NOT_PLAIN } from "./plain-data.js";

export { MAX_RESOURCE_DEPTH, MAX_WRITTEN_VALUES };

// Keys that would rewrite a prototype when a naive merge or assignment copies
// the value (`JSON.parse` turns `"__proto__"` into an ordinary own key).
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);

export interface UnsafeValue {
  path: (string | number)[];
  value: unknown;
  message: string;
}

function isPlainObject(x: object): boolean {
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

/**
 * The first thing in `root` that may not be stored or sent: a prototype-polluting
 * key, nesting deeper than MAX_RESOURCE_DEPTH, a cycle, a function, a symbol or
 * a bigint (no wire format here carries one, so every backend refuses it alike),
 * or shared objects that would be written out as more than MAX_WRITTEN_VALUES values.
 * `jsonOnly` (stored resources): also anything JSON would not give back as it
 * was — an object that is not a plain object or array (Map, Set, Date, bytes,
 * a class instance), NaN or an infinity, undefined (or a hole) in an array.
 * Without it, other objects (Date, typed arrays, …) are leaves.
 */
export function findUnsafe(root: unknown, options?: { jsonOnly?: boolean }): UnsafeValue | undefined {
  const jsonOnly = options?.jsonOnly === true;
  const path: (string | number)[] = [];
  const ancestors: object[] = [];
  // object -> depth it was checked at: a shared (DAG) object is re-walked only
  // when met deeper than before, so no input makes the walk exponential.
  const seen = new Map<object, number>();
  let shared = false;

  const visit = (value: unknown, depth: number): UnsafeValue | undefined => {
    if (typeof value === "function" || typeof value === "symbol") {
      return { path: [...path], value, message: `(${typeof value}) cannot be stored: only data can` };
    }
    if (typeof value === "bigint") {
      return { path: [...path], value, message: "(bigint) cannot be stored: use a number or a string" };
    }
    if (jsonOnly && typeof value === "number" && !Number.isFinite(value)) {
      return { path: [...path], value, message: `(${value}) cannot be stored: JSON has no NaN or infinity (it would come back as null)` };
    }
    if (typeof value !== "object" || value === null) return undefined;
    const isArray = Array.isArray(value);
    if (!isArray && !isPlainObject(value)) {
      return jsonOnly ? { path: [...path], value, message: notPlainMessage(value) } : undefined;
    }
    const before = seen.get(value);
    if (before !== undefined) {
      if (ancestors.includes(value)) return { path: [...path], value, message: "is cyclic (it contains itself)" };
      shared = true;
      if (before >= depth) return undefined;
    }
    if (depth > MAX_RESOURCE_DEPTH) {
      return { path: [...path], value, message: `is nested deeper than ${MAX_RESOURCE_DEPTH} levels` };
    }
    seen.set(value, depth);
    ancestors.push(value);
    let found: UnsafeValue | undefined;
    if (isArray) {
      for (let i = 0; i < value.length && !found; i++) {
        path.push(i);
        // A hole reads as undefined too.
        found = jsonOnly && value[i] === undefined
          ? { path: [...path], value: undefined, message: "(undefined in an array) cannot be stored: JSON writes it as null" }
          : visit(value[i], depth + 1);
        path.pop();
      }
    } else {
      const record = value as Record<string, unknown>;
      for (const key of Object.keys(record)) {
        path.push(key);
        found = FORBIDDEN_KEYS.has(key)
          ? { path: [...path], value: record[key], message: "is a forbidden key (prototype pollution)" }
          : visit(record[key], depth + 1);
        path.pop();
        if (found) break;
      }
    }
    ancestors.pop();
    return found;
  };

  // Only a value with shared objects can write out more than it holds.
  return visit(root, 1) ?? (shared ? findOverWritten(root) : undefined);
}

function notPlainMessage(value: object): string {
  const name = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  const what = typeof name === "string" && name !== "" ? name : "object";
  const hint =
    value instanceof Date ? " (store date.toISOString())"
    : value instanceof Map ? " (store Object.fromEntries(map) or [...map])"
    : value instanceof Set ? " (store [...set])"
    : ArrayBuffer.isView(value) || value instanceof ArrayBuffer ? " (store an array of numbers or a base64 string)"
    : "";
  return `(${what}) cannot be stored: only plain objects, arrays, strings, finite numbers, booleans and null can${hint}`;
}

/**
 * The smallest part of `root` (acyclic, already checked) that writes out more
 * than MAX_WRITTEN_VALUES values, counting each shared object once per path;
 * sizes are memoized per object, so the count costs the objects, not the paths.
 */
function findOverWritten(root: unknown): UnsafeValue | undefined {
  const limit = MAX_WRITTEN_VALUES;
  const sizes = new Map<object, number>();
  const written = (value: unknown): number => {
    if (typeof value !== "object" || value === null) return 1;
    const known = sizes.get(value);
    if (known !== undefined) return known;
    let total = 1;
    const children: unknown[] = Array.isArray(value) ? value : Object.values(value);
    for (let i = 0; i < children.length && total <= limit; i++) total += written(children[i]);
    // Saturated: anything past the limit is only "too many".
    total = Math.min(total, limit + 1);
    sizes.set(value, total);
    return total;
  };
  if (written(root) <= limit) return undefined;
  const path: (string | number)[] = [];
  let value = root as object;
  // Down to the smallest part that is over the limit on its own.
  for (;;) {
    const entries: [string | number, unknown][] = Array.isArray(value) ? value.map((x, i) => [i, x]) : Object.entries(value);
    const over = entries.find(([, child]) => typeof child === "object" && child !== null && written(child) > limit);
    if (!over) break;
    path.push(over[0]);
    value = over[1] as object;
  }
  return {
    path,
    value,
    message: `writes out more than ${MAX_WRITTEN_VALUES} values (an object referenced from several places is written once per place); store less, or share by key`,
  };
}

const objectLike = (message: string) =>
  v.custom<Record<string, unknown>>((x) => typeof x === "object" && x !== null && !Array.isArray(x), message);

const REQUIRED = "is required";

const Revision = v.pipe(
  v.number("must be a non-negative integer"),
  v.safeInteger("must be a non-negative integer"),
  v.minValue(0, "must be a non-negative integer"),
);

export const ResourceMetadataSchema = v.pipe(
  objectLike("must be an object"),
  v.looseObject({
    generation: v.optional(Revision),
    revision: v.optional(Revision),
    ownerUid: v.optional(UidSchema),
    ownerKind: v.optional(KindSchema),
    labels: v.optional(
      v.pipe(objectLike("must be an object of strings"), v.record(v.string(), v.string("must be a string"))),
    ),
    finalizers: v.optional(v.array(v.string("must be a string"), "must be an array of strings")),
    deletedAt: v.optional(
      v.pipe(v.string("must be a string"), v.isoTimestamp("must be an ISO 8601 timestamp")),
    ),
  }),
);

/**
 * A resource as given to `Storage.save` or read back from a backend. Unknown keys
 * (top level and metadata) are kept; see `parseResource` for a thrown error.
 */
export const ResourceSchema: v.GenericSchema<unknown, ParsedResource> = v.pipe(
  v.unknown(),
  // Runs before any schema copies keys out of the input.
  v.rawCheck(({ dataset, addIssue }) => {
    // Stored data must come back from every backend as it went in: JSON's data only.
    const bad = findUnsafe(dataset.value, { jsonOnly: true });
    if (!bad) return;
    const items: v.IssuePathItem[] = bad.path.map((key) => ({
      type: "unknown",
      origin: "value",
      input: undefined,
      key,
      value: undefined,
    }));
    addIssue({
      message: bad.message,
      input: bad.value,
      path: items.length > 0 ? (items as [v.IssuePathItem, ...v.IssuePathItem[]]) : undefined,
    });
  }),
  objectLike("must be an object"),
  v.looseObject({
    kind: KindSchema,
    uid: UidSchema,
    metadata: v.optional(ResourceMetadataSchema),
    spec: v.custom<unknown>((x) => x !== undefined, REQUIRED),
    status: v.optional(v.unknown()),
  }),
);

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function formatPath(base: string, keys: readonly unknown[]): string {
  let out = base;
  for (const key of keys) {
    if (typeof key === "number") out += `[${key}]`;
    else if (typeof key === "string" && IDENTIFIER.test(key)) out += `.${key}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  if (value === null || value === undefined) return String(value);
  return `(${Array.isArray(value) ? "array" : typeof value})`;
}

function messageOf(issue: v.BaseIssue<unknown>): string {
  const last = issue.path?.at(-1);
  // A missing required key is reported by its object schema with the key as origin.
  if (last?.origin === "key" || issue.message === REQUIRED) return REQUIRED;
  if (issue.type === "raw_check") return issue.message;
  return `${describe(issue.input)} ${issue.message}`;
}

/**
 * A validated resource; structurally the `Resource` of src/storage/resource.ts
 * (codec depends on nothing of ours, so it cannot name that type). Written out
 * rather than inferred from ResourceSchema: a published type must be explicit (JSR).
 */
export type ParsedResource = {
  kind: string;
  uid: string;
  /** Checked by ResourceMetadataSchema; typed in full by src/storage/resource.ts. */
  metadata?: Record<string, unknown>;
  spec: unknown;
  status?: unknown;
  [key: string]: unknown;
};

/**
 * Validates `input` as a resource and returns it (top-level and metadata objects
 * are fresh; spec and status are the caller's). Throws `ValidationError` whose
 * path names the bad field, e.g. `resource.metadata.labels.zone`.
 */
export function parseResource(input: unknown, path = "resource"): ParsedResource {
  const result = v.safeParse(ResourceSchema, input);
  if (result.success) return result.output;
  const issue = result.issues[0];
  throw new ValidationError(formatPath(path, (issue.path ?? []).map((item) => item.key)), messageOf(issue));
}

function isRevision(x: unknown): boolean {
  return x === undefined || (Number.isSafeInteger(x) && (x as number) >= 0);
}

function isStringArray(x: unknown): boolean {
  if (x === undefined) return true;
  if (!Array.isArray(x)) return false;
  for (const item of x) if (typeof item !== "string") return false;
  return true;
}

function isStringRecord(x: unknown): boolean {
  if (x === undefined) return true;
  if (typeof x !== "object" || x === null || Array.isArray(x)) return false;
  for (const key of Object.keys(x)) if (typeof (x as Record<string, unknown>)[key] !== "string") return false;
  return true;
}

/**
 * True when `r`, already known to be plain data, is a resource that
 * `ResourceSchema` accepts, judged by hand. It only says yes where the schema
 * surely does; anything less common (owner references, a deletion timestamp,
 * metadata keys of its own) answers false and goes through the schema, which
 * explains a failure. Saves valibot's pipeline on every write and decode.
 * `kind`/`uid`, when given, are valid names the resource must carry: an equal
 * string needs no pattern check of its own.
 */
function hasCommonShape(r: unknown, kind?: string, uid?: string): r is ParsedResource {
  if (typeof r !== "object" || r === null || Array.isArray(r)) return false;
  const { kind: k, uid: u, metadata, spec } = r as Record<string, unknown>;
  if (spec === undefined) return false;
  if (kind === undefined ? !isKind(k) : k !== kind) return false;
  if (uid === undefined ? !isUid(u) : u !== uid) return false;
  if (metadata === undefined) return true;
  if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) return false;
  for (const key of Object.keys(metadata)) {
    const value = (metadata as Record<string, unknown>)[key];
    switch (key) {
      case "generation":
      case "revision":
        if (!isRevision(value)) return false;
        break;
      case "finalizers":
        if (!isStringArray(value)) return false;
        break;
      case "labels":
        if (!isStringRecord(value)) return false;
        break;
      default:
        if (value !== undefined) return false;
    }
  }
  return true;
}

/**
 * `parseResource` that returns a deep copy of `input`: the caller owns every
 * object in it. Everyday resources take one walk (copy and check together);
 * the rest take the schema, then `deepCopy` (a value it cannot copy, such as
 * a WeakMap, is a `ValidationError` naming `path`). `kind`/`uid`: see `checkResource`.
 */
export function parseResourceCopy(input: unknown, path: string, kind?: string, uid?: string): ParsedResource {
  const fast = copyPlainData(input);
  if (fast !== NOT_PLAIN && hasCommonShape(fast, kind, uid)) return fast;
  const parsed = parseResource(input, path);
  try {
    return deepCopy(parsed);
  } catch (cause) {
    throw new ValidationError(path, `cannot be stored: ${(cause as Error).message}`, { cause });
  }
}

/**
 * `parseResource` without the copy: an everyday resource comes back as
 * `input` itself, anything else as the schema's output (fresh top level and
 * metadata). `kind`/`uid`, when given, are the valid names the caller expects
 * (the key it read, the arguments of a save): a resource carrying them is
 * checked faster; one carrying others still passes if valid, for the caller
 * to report the mismatch its own way.
 */
export function checkResource(input: unknown, path: string, kind?: string, uid?: string): ParsedResource {
  if (hasCommonShape(input, kind, uid) && isPlainData(input)) return input;
  return parseResource(input, path);
}
