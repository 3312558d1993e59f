import * as v from "valibot";
import { ValidationError } from "./errors.js";

// Kinds, uids and event-type tokens end up as NATS subject tokens and KV key
// parts (`<kind>.<uid>`), so they may never hold `.`, `*`, `>`, whitespace,
// control characters or path separators: a uid must never become a wildcard,
// an extra subject token or someone else's key.
const TOKEN = /^[A-Za-z0-9_-]+$/;

const KIND = /^[A-Za-z][A-Za-z0-9_-]*$/;
const UID = /^[A-Za-z0-9][A-Za-z0-9_=-]*$/;

export const KindSchema = v.pipe(
  v.string("must be a string"),
  v.nonEmpty("must not be empty"),
  v.maxLength(63, "must be at most 63 characters"),
  v.regex(KIND, "must start with a letter and hold only letters, digits, '_' and '-'"),
);

export const UidSchema = v.pipe(
  v.string("must be a string"),
  v.nonEmpty("must not be empty"),
  v.maxLength(128, "must be at most 128 characters"),
  v.regex(UID, "must start with a letter or digit and hold only letters, digits, '_', '=' and '-'"),
);

export const EventTypeSchema = v.pipe(
  v.string("must be a string"),
  v.nonEmpty("must not be empty"),
  v.maxLength(255, "must be at most 255 characters"),
  v.check(
    (s) => s.split(".").every((t) => TOKEN.test(t)),
    "must be dot-separated tokens of letters, digits, '_' and '-' (no empty token, no wildcard)",
  ),
);

function check<T>(schema: v.GenericSchema<unknown, T>, value: unknown, path: string): T {
  const result = v.safeParse(schema, value);
  if (result.success) return result.output;
  throw new ValidationError(path, `${describe(value)} ${result.issues[0].message}`);
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  return `(${value === null ? "null" : typeof value})`;
}

/** `KindSchema` as a plain test. */
export function isKind(x: unknown): x is string {
  return typeof x === "string" && x.length <= 63 && KIND.test(x);
}

/** `UidSchema` as a plain test. */
export function isUid(x: unknown): x is string {
  return typeof x === "string" && x.length <= 128 && UID.test(x);
}

const EVENT_TYPE = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/;

/** `EventTypeSchema` as a plain test. */
export function isEventType(x: unknown): x is string {
  return typeof x === "string" && x.length <= 255 && EVENT_TYPE.test(x);
}

/** Throws `ValidationError` naming `path` unless `kind` is a valid resource kind. */
export function assertKind(kind: unknown, path = "kind"): string {
  // Every storage call checks its names: the schema runs only to explain a bad one.
  if (isKind(kind)) return kind;
  return check(KindSchema, kind, path);
}

/** Throws `ValidationError` naming `path` unless `uid` is a valid resource uid. */
export function assertUid(uid: unknown, path = "uid"): string {
  if (isUid(uid)) return uid;
  return check(UidSchema, uid, path);
}

/** Throws `ValidationError` naming `path` unless `type` is a valid event type. */
export function assertEventType(type: unknown, path = "event.type"): string {
  return check(EventTypeSchema, type, path);
}
