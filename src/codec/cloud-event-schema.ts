import * as v from "valibot";
import { ValidationError } from "./errors.js";
import { EventTypeSchema, isEventType, isKind, isUid, KindSchema, UidSchema } from "./names.js";
import { isPlainData } from "./plain-data.js";
import { findUnsafe } from "./resource-schema.js";

// CloudEvents 1.0: an extension attribute name is lower-case ASCII letters
// and digits, at most 20 characters.
const EXTENSION_NAME = /^[a-z0-9]{1,20}$/;
// Keys that would reach an object's prototype when copied by a careless
// consumer; refused outright instead of being silently dropped.
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);
// RFC 3339 date-time, the form CloudEvents requires for `time`.
const RFC3339 = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$/;
// `id` travels as the Nats-Msg-Id header on the JetStream bus: no line breaks
// or other control characters may smuggle in another header.
const NO_CONTROL = /^[^\p{Cc}]*$/u;

const NonEmptyString = v.pipe(v.string("must be a string"), v.nonEmpty("must not be empty"));

/** CloudEvents `time`: an RFC 3339 timestamp string. */
export const CloudEventTimeSchema = v.pipe(
  v.string("must be an RFC 3339 timestamp string"),
  v.regex(RFC3339, "must be an RFC 3339 timestamp such as 2024-01-31T12:00:00Z"),
  v.check((s) => !Number.isNaN(Date.parse(s)), "must be a real date and time"),
);

// `reconcilekey` is `<kind>/<uid>` of the reconcile that emitted the event.
const ReconcileKeySchema = v.pipe(
  v.string("must be a string"),
  v.check((s) => {
    const slash = s.indexOf("/");
    return slash > 0 && v.is(KindSchema, s.slice(0, slash)) && v.is(UidSchema, s.slice(slash + 1));
  }, "must be '<kind>/<uid>' with a valid kind and uid"),
);

// JSON-format extension values are strings, integers or booleans; undefined
// is tolerated so in-process events built with optional fields pass.
const ExtensionValueSchema = v.custom<string | number | boolean | undefined>(
  (value) =>
    typeof value === "string" || typeof value === "boolean" || value === undefined || Number.isSafeInteger(value),
  "must be a string, an integer or a boolean",
);

/** The context attributes a CloudEvent may carry besides extensions. */
export const CLOUD_EVENT_ATTRIBUTES: ReadonlySet<string> = new Set([
  "specversion",
  "id",
  "source",
  "type",
  "time",
  "subject",
  "datacontenttype",
  "dataschema",
  "data",
  "data_base64",
  "resourcekind",
  "resourceuid",
  "reconcilekey",
]);

/**
 * Why `name` cannot be an extension attribute, or undefined when it can: lower
 * case letters and digits, at most 20 characters, not a core attribute.
 */
export function extensionNameProblem(name: string): string | undefined {
  if (FORBIDDEN_KEYS.has(name)) return "is a forbidden attribute name";
  if (CLOUD_EVENT_ATTRIBUTES.has(name)) return "is a CloudEvents attribute, not an extension";
  if (!EXTENSION_NAME.test(name)) {
    return "is not a valid extension name (lower-case letters and digits, at most 20 characters)";
  }
  return undefined;
}

const PlainObjectSchema = v.custom<Record<string, unknown>>((input) => {
  if (input === null || typeof input !== "object" || Array.isArray(input)) return false;
  const proto = Object.getPrototypeOf(input);
  return proto === Object.prototype || proto === null;
}, "must be a plain object");

/** A CloudEvents 1.0 event (structured mode) as it arrives from outside. */
export const CloudEventSchema = v.pipe(
  PlainObjectSchema,
  // Key names first: valibot drops `__proto__`-like keys silently, and an
  // unknown key's problem is its name, not its value.
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const input = dataset.value;
    for (const key of Object.keys(input)) {
      if (CLOUD_EVENT_ATTRIBUTES.has(key)) continue;
      const problem = extensionNameProblem(key);
      if (problem === undefined) continue;
      addIssue({
        message: problem,
        path: [{ type: "object", origin: "key", input, key, value: input[key] }],
      });
      return;
    }
  }),
  v.objectWithRest(
    {
      specversion: v.literal("1.0", 'must be "1.0"'),
      id: v.pipe(NonEmptyString, v.maxLength(256, "must be at most 256 characters"), v.regex(NO_CONTROL, "must not hold control characters")),
      source: NonEmptyString,
      type: EventTypeSchema,
      time: v.optional(CloudEventTimeSchema),
      subject: v.optional(NonEmptyString),
      datacontenttype: v.optional(NonEmptyString),
      dataschema: v.optional(NonEmptyString),
      data: v.optional(v.unknown()),
      data_base64: v.optional(v.string("must be a base64 string")),
      resourcekind: v.optional(KindSchema),
      resourceuid: v.optional(UidSchema),
      reconcilekey: v.optional(ReconcileKeySchema),
    },
    ExtensionValueSchema,
  ),
  v.check((e) => e.data === undefined || e.data_base64 === undefined, "must not carry both data and data_base64"),
  // The same rules as a stored resource: every bus carries data only, so the
  // in-memory bus refuses what JetStream could not encode.
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const bad = findUnsafe(dataset.value.data);
    if (!bad) return;
    const item: v.IssuePathItem = { type: "object", origin: "value", input: dataset.value, key: "data", value: dataset.value.data };
    addIssue({ message: `${bad.path.length > 0 ? `${bad.path.join(".")} ` : ""}${bad.message}`, path: [item] });
  }),
);

/** What `parseCloudEvent` returns; structurally a `CloudEvent` (src/events/cloud-event.ts). */
export type ParsedCloudEvent = v.InferOutput<typeof CloudEventSchema>;

// `CLOUD_EVENT_ATTRIBUTES.has` as compares: for-in keys are internalized strings.
function isAttribute(key: string): boolean {
  switch (key) {
    case "specversion":
    case "id":
    case "source":
    case "type":
    case "time":
    case "subject":
    case "datacontenttype":
    case "dataschema":
    case "data":
    case "data_base64":
    case "resourcekind":
    case "resourceuid":
    case "reconcilekey":
      return true;
    default:
      return false;
  }
}

function isOptionalNonEmpty(x: unknown): boolean {
  return x === undefined || (typeof x === "string" && x.length > 0);
}

function isReconcileKey(x: unknown): boolean {
  if (typeof x !== "string") return false;
  const slash = x.indexOf("/");
  return slash > 0 && isKind(x.slice(0, slash)) && isUid(x.slice(slash + 1));
}

/**
 * `CloudEventSchema`'s output for an everyday event, judged by hand, or
 * undefined where the schema must judge (and explain a failure). It accepts
 * only what the schema accepts, and builds the same object: the attributes
 * in the schema's order, then the extensions. Saves valibot's pipeline on
 * every publish and every delivery. Exported for its agreement test only.
 */
export function commonCloudEvent(input: unknown): ParsedCloudEvent | undefined {
  if (typeof input !== "object" || input === null || Array.isArray(input)) return undefined;
  const proto = Object.getPrototypeOf(input);
  if (proto !== Object.prototype && proto !== null) return undefined;
  const e = input as Record<string, unknown>;
  const { id, source, time, data } = e;
  if (e.specversion !== "1.0" || !isEventType(e.type)) return undefined;
  if (typeof id !== "string" || id.length === 0 || id.length > 256 || !NO_CONTROL.test(id)) return undefined;
  if (typeof source !== "string" || source.length === 0) return undefined;
  if (time !== undefined && (typeof time !== "string" || !RFC3339.test(time) || Number.isNaN(Date.parse(time)))) return undefined;
  if (!isOptionalNonEmpty(e.subject) || !isOptionalNonEmpty(e.datacontenttype) || !isOptionalNonEmpty(e.dataschema)) return undefined;
  if (e.data_base64 !== undefined && (typeof e.data_base64 !== "string" || data !== undefined)) return undefined;
  if (e.resourcekind !== undefined && !isKind(e.resourcekind)) return undefined;
  if (e.resourceuid !== undefined && !isUid(e.resourceuid)) return undefined;
  if (e.reconcilekey !== undefined && !isReconcileKey(e.reconcilekey)) return undefined;
  if (data !== undefined && !isPlainData(data)) return undefined;
  // In the schema's order, which is its output's order; named stores keep
  // every everyday event on one hidden class.
  const out: Record<string, unknown> = { specversion: "1.0", id, source, type: e.type };
  if ("time" in e) out.time = time;
  if ("subject" in e) out.subject = e.subject;
  if ("datacontenttype" in e) out.datacontenttype = e.datacontenttype;
  if ("dataschema" in e) out.dataschema = e.dataschema;
  if ("data" in e) out.data = data;
  if ("data_base64" in e) out.data_base64 = e.data_base64;
  if ("resourcekind" in e) out.resourcekind = e.resourcekind;
  if ("resourceuid" in e) out.resourceuid = e.resourceuid;
  if ("reconcilekey" in e) out.reconcilekey = e.reconcilekey;
  for (const key in e) {
    if (isAttribute(key) || !Object.hasOwn(e, key)) continue;
    const value = e[key];
    if (extensionNameProblem(key) !== undefined) return undefined;
    if (!(typeof value === "string" || typeof value === "boolean" || value === undefined || Number.isSafeInteger(value))) return undefined;
    out[key] = value;
  }
  return out as ParsedCloudEvent;
}

/**
 * Validates an event from outside and returns a fresh copy of it (its `data`
 * is shared, not copied). Throws `ValidationError` whose path names the
 * attribute, e.g. `"event.type"`.
 */
export function parseCloudEvent(input: unknown): ParsedCloudEvent {
  const common = commonCloudEvent(input);
  if (common !== undefined) return common;
  const result = v.safeParse(CloudEventSchema, input, { abortEarly: true });
  if (result.success) return result.output;
  const issue = result.issues[0];
  const item = issue.path?.[0] as { key?: unknown; origin?: string; value?: unknown } | undefined;
  if (item === undefined || typeof item.key !== "string") {
    throw new ValidationError("event", `${describe(input)} ${issue.message}`);
  }
  const path = `event.${item.key}`;
  if (item.origin === "key") {
    // A missing required attribute is reported by valibot as a key issue too.
    const missing = item.value === undefined && !Object.prototype.hasOwnProperty.call(input, item.key);
    throw new ValidationError(path, missing ? "is required" : issue.message);
  }
  throw new ValidationError(path, `${describe(issue.input)} ${issue.message}`);
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (Array.isArray(value)) return "(array)";
  return `(${value === null ? "null" : typeof value})`;
}
