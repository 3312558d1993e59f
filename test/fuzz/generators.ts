// Generators of malformed inputs for the fuzz suites. Every generator returns a
// case that is invalid BY CONSTRUCTION (exactly one defect on an otherwise
// valid input), with the path the error must name, so the suites never ask the
// code under test whether an input is malformed.
import { encode } from "@msgpack/msgpack";

/** A small, fast, seeded PRNG (mulberry32): the same seed gives the same cases. */
export class Rng {
  #state: number;
  constructor(readonly seed: number) {
    this.#state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }

  string(n: number, alphabet: string): string {
    let s = "";
    for (let i = 0; i < n; i++) s += alphabet[this.int(alphabet.length)];
    return s;
  }
}

/** `FUZZ_SEED` from the environment (to replay a failure), else a fresh random seed. */
export function fuzzSeed(): number {
  const fromEnv = process.env.FUZZ_SEED;
  if (fromEnv !== undefined && fromEnv !== "") {
    const seed = Number(fromEnv);
    if (!Number.isSafeInteger(seed)) throw new Error(`FUZZ_SEED must be an integer, got ${JSON.stringify(fromEnv)}`);
    return seed >>> 0;
  }
  return (Math.random() * 2 ** 32) >>> 0;
}

const LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ALNUM = `${LETTERS}0123456789`;
const LOWER_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789";

/** 2 MiB: twice NATS' default max_payload. */
export const HUGE_LENGTH = 2 * 1024 * 1024;
let huge: string | undefined;
/** A 2 MiB string (made once, shared). */
export function hugeString(): string {
  return (huge ??= "x".repeat(HUGE_LENGTH));
}

/** A valid kind, uid or event-type token. */
export function validToken(rng: Rng, length = rng.range(1, 12)): string {
  return rng.pick([...LETTERS]) + rng.string(length - 1, ALNUM);
}

// Characters no kind, uid or event-type token may hold: separators, NATS
// wildcards, whitespace, control characters, path characters, unicode.
const FORBIDDEN_CHARS = [
  " ", "*", ">", "/", "\\", "\t", "\n", "\r", "\0", "\x1b", "\x7f", "ü", "é", "日", "😀", "\u200b", "\u2028",
  ":", "@", "#", "$", "%", "!", "?", "'", '"', "{", "(", "+", ",", ";", "~", "`", "^", "&", "|",
];

/** Not a string at all: every other JavaScript type, including the ones JSON cannot hold. */
export function wrongType(rng: Rng): { what: string; value: unknown } {
  return rng.pick<() => { what: string; value: unknown }>([
    () => ({ what: "null", value: null }),
    () => ({ what: "true", value: true }),
    () => ({ what: "0", value: 0 }),
    () => ({ what: "-1", value: -1 }),
    () => ({ what: "1.5", value: 1.5 }),
    () => ({ what: "NaN", value: NaN }),
    () => ({ what: "Infinity", value: Infinity }),
    () => ({ what: "-Infinity", value: -Infinity }),
    () => ({ what: "bigint", value: 12n }),
    () => ({ what: "symbol", value: Symbol("fuzz") }),
    () => ({ what: "function", value: () => "fuzz" }),
    () => ({ what: "array", value: ["a"] }),
    () => ({ what: "empty object", value: {} }),
    () => ({ what: "Date", value: new Date(0) }),
    () => ({ what: "Map", value: new Map([["a", 1]]) }),
    () => ({ what: "Uint8Array", value: new Uint8Array([1, 2]) }),
    () => ({ what: "circular object", value: circular() }),
    () => ({ what: "deep object", value: deepObject(rng.range(65, 300)) }),
  ])();
}

/** Like `wrongType`, restricted to what msgpack and JSON carry unchanged in type (for wire messages). */
function wrongWireType(rng: Rng): { what: string; value: unknown } {
  return rng.pick<{ what: string; value: unknown }>([
    { what: "null", value: null },
    { what: "true", value: true },
    { what: "0", value: 0 },
    { what: "-1", value: -1 },
    { what: "1.5", value: 1.5 },
    { what: "array", value: ["a", 1] },
    { what: "empty object", value: {} },
    { what: "object", value: { a: { b: [1, 2] } } },
  ]);
}

export function circular(): Record<string, unknown> {
  const a: Record<string, unknown> = { name: "a" };
  const b: Record<string, unknown> = { back: a };
  a.next = [b];
  return a;
}

/** `{ d: { d: … } }` nested `depth` levels. */
export function deepObject(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: true };
  for (let i = 1; i < depth; i++) value = { d: value };
  return value;
}

/** A string that is not a valid name: wildcards, separators, whitespace, control characters, unicode, too long. */
function badString(rng: Rng, maxLength: number, extra: readonly string[]): { what: string; value: string } {
  const fixed = ["", "*", ">", ".", "..", "a.b", "a..b", ".a", "a.", "a b", " a", "a ", "**", "a.*", "a.>", "ü", "日本", "😀", "\u200b", ...extra];
  switch (rng.int(4)) {
    case 0: {
      const value = rng.pick(fixed);
      return { what: `bad name ${JSON.stringify(value)}`, value };
    }
    case 1: {
      // A valid name with one forbidden character put in somewhere.
      const base = validToken(rng, rng.range(1, 10));
      const at = rng.int(base.length + 1);
      const ch = rng.pick(FORBIDDEN_CHARS);
      return { what: `name with ${JSON.stringify(ch)}`, value: base.slice(0, at) + ch + base.slice(at) };
    }
    case 2: {
      const value = validToken(rng, maxLength + 1 + rng.int(50));
      return { what: `name of ${value.length} characters`, value };
    }
    default:
      return { what: "2 MiB name", value: hugeString() };
  }
}

/** Not a valid resource kind (a string with a defect, or not a string). */
export function badKind(rng: Rng): { what: string; value: unknown } {
  if (rng.chance(0.25)) return wrongType(rng);
  // Valid as uids, not as kinds: a kind starts with a letter and has no '='.
  return badString(rng, 63, ["1a", "9Thing", "_a", "-a", "a=b", "=", "a.b.c"]);
}

/** Not a valid resource uid. */
export function badUid(rng: Rng): { what: string; value: unknown } {
  if (rng.chance(0.25)) return wrongType(rng);
  // A uid starts with a letter or digit.
  return badString(rng, 128, ["_a", "-a", "=a", "a/b", "../a", "a\\b"]);
}

/** Not a valid event type (dot-separated tokens of letters, digits, '_', '-'). */
export function badEventType(rng: Rng): { what: string; value: unknown } {
  if (rng.chance(0.2)) return wrongType(rng);
  if (rng.chance(0.5)) {
    const fixed = ["", ".", "..", "a..b", ".a", "a.", "*", ">", "**", "a.*", "a.>", "a.**", "a b", "a.b c", "a=b", "a.=", "io.ex ample", "io.ü", "a\n", "a\0b"];
    const value = rng.pick(fixed);
    return { what: `bad type ${JSON.stringify(value)}`, value };
  }
  if (rng.chance(0.2)) return { what: "2 MiB type", value: hugeString() };
  if (rng.chance(0.2)) {
    const tokens = Array.from({ length: 30 }, () => validToken(rng, 9));
    return { what: "type over 255 characters", value: tokens.join(".") };
  }
  // A valid dotted type with a forbidden character, or '=' (allowed in uids, not in types).
  const tokens = Array.from({ length: rng.range(1, 4) }, () => validToken(rng, rng.range(1, 6)));
  const t = rng.int(tokens.length);
  const ch = rng.pick([...FORBIDDEN_CHARS, "="]);
  const at = rng.int(tokens[t].length + 1);
  tokens[t] = tokens[t].slice(0, at) + ch + tokens[t].slice(at);
  return { what: `type with ${JSON.stringify(ch)}`, value: tokens.join(".") };
}

// ---------------------------------------------------------------- resources

export interface ValidResource {
  kind: string;
  uid: string;
  metadata?: { generation?: number; labels?: Record<string, string>; finalizers?: string[] };
  /** `mode: "ok"` makes it a valid resource of the chaos fixture's kind too. */
  spec: { mode: "ok"; value: number; note?: string };
}

/** A valid resource. */
export function validResource(rng: Rng, kind: string, uid: string): ValidResource {
  const thing: ValidResource = { kind, uid, spec: { mode: "ok", value: rng.int(1_000_000) } };
  if (rng.chance(0.5)) thing.metadata = { generation: rng.range(1, 5), labels: { zone: validToken(rng) } };
  if (rng.chance(0.3)) thing.spec.note = rng.string(rng.int(40), ALNUM);
  return thing;
}

/** A `save(kind, uid, value, options)` call that must be rejected. */
export interface MalformedSave {
  what: string;
  kind: unknown;
  uid: unknown;
  value: unknown;
  options?: unknown;
  /** The ValidationError's path: exactly this, or (for a RegExp) matching it. */
  path: string | RegExp;
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** How resource-schema prints a path: `.key` for identifiers, `[0]` for indices, `["a b"]` otherwise. */
function formatPath(base: string, keys: readonly (string | number)[]): string {
  let out = base;
  for (const key of keys) {
    if (typeof key === "number") out += `[${key}]`;
    else if (IDENT.test(key)) out += `.${key}`;
    else out += `[${JSON.stringify(key)}]`;
  }
  return out;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Plants `leaf` at a random path of 0..4 levels under `root` (objects and
 * arrays, fresh ones); returns the keys from root to the leaf.
 */
function plant(rng: Rng, root: Record<string, unknown>, leafKey: string, leaf: unknown): (string | number)[] {
  const keys: (string | number)[] = [];
  let at: Record<string, unknown> | unknown[] = root;
  for (let depth = rng.int(5); depth > 0; depth--) {
    const next: Record<string, unknown> | unknown[] = rng.chance(0.3) ? [] : {};
    if (Array.isArray(at)) {
      at.push("filler", next);
      keys.push(at.length - 1);
    } else {
      const key = validToken(rng, rng.range(1, 6));
      at[key] = next;
      keys.push(key);
    }
    at = next;
  }
  if (Array.isArray(at)) {
    at.push(leaf);
    keys.push(at.length - 1);
  } else {
    at[leafKey] = leaf;
    keys.push(leafKey);
  }
  return keys;
}

/** `{ "<key>": { polluted: true } }` made by JSON.parse, so the key is an own property. */
function pollutingObject(key: string): Record<string, unknown> {
  return JSON.parse(`{"${key}": {"polluted": true, "isAdmin": true}}`) as Record<string, unknown>;
}

/**
 * A save of `<kind>/<uid>` with exactly one defect:
 * a bad name argument, a value that is not a resource, a field of the wrong
 * type, a missing spec, a prototype-polluting key, nesting deeper than 64, a
 * cycle, a function or symbol, a bad expectedRevision.
 */
export function malformedSave(rng: Rng, kind: string, uid: string): MalformedSave {
  const base = validResource(rng, kind, uid) as unknown as Record<string, unknown>;
  const ok = (what: string, value: unknown, path: string | RegExp, options?: unknown): MalformedSave => ({
    what,
    kind,
    uid,
    value,
    options,
    path,
  });
  const cases: (() => MalformedSave)[] = [
    () => {
      const k = badKind(rng);
      return { what: `kind argument: ${k.what}`, kind: k.value, uid, value: base, path: "kind" };
    },
    () => {
      const u = badUid(rng);
      return { what: `uid argument: ${u.what}`, kind, uid: u.value, value: { ...base, uid: u.value }, path: "uid" };
    },
    () => {
      const w = rng.pick<{ what: string; value: unknown }>([
        ...[wrongType(rng)],
        { what: "undefined", value: undefined },
        { what: "string", value: kind },
        { what: "JSON text of a resource", value: JSON.stringify(base) },
        { what: "array of the resource", value: [base] },
      ]);
      // A deep object or a cycle is reported at the place it goes wrong, under value.
      return ok(`value: ${w.what}`, w.value, /^value/);
    },
    () => ok("value.kind differs from the kind argument", { ...base, kind: `${kind}x` }, "value.kind"),
    () => ok("value.uid differs from the uid argument", { ...base, uid: `${uid}x` }, "value.uid"),
    () => {
      const k = badKind(rng);
      return ok(`value.kind: ${k.what}`, { ...base, kind: k.value }, /^value\.kind/);
    },
    () => {
      const w = wrongType(rng);
      return ok(`value.uid: ${w.what}`, { ...base, uid: w.value }, /^value\.uid/);
    },
    () => {
      const copy = { ...base };
      delete copy.spec;
      return ok("spec missing", copy, "value.spec");
    },
    () => ok("spec undefined", { ...base, spec: undefined }, "value.spec"),
    () => {
      const w = rng.pick([{ what: "null", value: null }, { what: "number", value: 7 }, { what: "string", value: "m" }, { what: "array", value: [] }, { what: "bigint", value: 1n }]);
      return ok(`metadata: ${w.what}`, { ...base, metadata: w.value }, "value.metadata");
    },
    () => {
      const field = rng.pick(["generation", "revision"]);
      const w = rng.pick<{ what: string; value: unknown }>([
        { what: "NaN", value: NaN },
        { what: "Infinity", value: Infinity },
        { what: "-Infinity", value: -Infinity },
        { what: "-1", value: -1 },
        { what: "1.5", value: 1.5 },
        { what: "2^53", value: 2 ** 53 },
        { what: "string", value: "3" },
        { what: "bigint", value: 3n },
        { what: "null", value: null },
        { what: "boolean", value: true },
      ]);
      return ok(`metadata.${field}: ${w.what}`, { ...base, metadata: { [field]: w.value } }, `value.metadata.${field}`);
    },
    () => {
      const field = rng.pick(["ownerUid", "ownerKind"]);
      const w = field === "ownerUid" ? badUid(rng) : badKind(rng);
      // A cycle or deep object there is reported where it goes wrong, below the field.
      return ok(`metadata.${field}: ${w.what}`, { ...base, metadata: { [field]: w.value } }, new RegExp(`^value\\.metadata\\.${field}`));
    },
    () => {
      const w = rng.pick<{ what: string; value: unknown }>([
        { what: "labels not an object", value: "zone=a" },
        { what: "labels an array", value: ["a"] },
        { what: "labels null", value: null },
      ]);
      return ok(w.what, { ...base, metadata: { labels: w.value } }, "value.metadata.labels");
    },
    () => {
      const key = validToken(rng);
      const w = rng.pick<{ what: string; value: unknown }>([{ what: "number", value: 1 }, { what: "null", value: null }, { what: "object", value: {} }, { what: "boolean", value: false }]);
      return ok(`label value ${w.what}`, { ...base, metadata: { labels: { [key]: w.value } } }, `value.metadata.labels.${key}`);
    },
    () => ok("finalizers not an array", { ...base, metadata: { finalizers: "a,b" } }, "value.metadata.finalizers"),
    () => {
      const at = rng.int(3);
      const finalizers: unknown[] = ["a", "b", "c"];
      finalizers[at] = rng.pick<unknown>([1, null, {}, ["x"], false]);
      return ok("finalizer not a string", { ...base, metadata: { finalizers } }, `value.metadata.finalizers[${at}]`);
    },
    () => {
      const w = rng.pick<unknown>(["yesterday", "2024-13-01T00:00:00Z", "", 12, new Date(0), null]);
      return ok("metadata.deletedAt not an ISO timestamp", { ...base, metadata: { deletedAt: w } }, "value.metadata.deletedAt");
    },
    () => {
      // Prototype pollution: a JSON.parse'd key in spec, status, metadata or the top level.
      const key = rng.pick(["__proto__", "constructor", "prototype"]);
      const where = rng.pick(["spec", "status", "metadata", "top"]);
      if (where === "top") {
        const value = { ...base, ...pollutingObject(key) };
        return ok(`top-level key ${key}`, value, `value.${key}`);
      }
      const root: Record<string, unknown> = {};
      const holder = pollutingObject(key);
      const keys = plant(rng, root, "holder", holder);
      const value = { ...base, [where]: where === "spec" ? { value: 1, ...root } : root };
      return ok(`key ${key} in ${where}`, value, formatPath(`value.${where}`, [...keys, key]));
    },
    () => {
      const depth = rng.pick([65, 66, 100, 1_000, 10_000]);
      const where = rng.pick(["spec", "status"]);
      return ok(`${where} nested ${depth} deep`, { ...base, [where]: deepObject(depth) }, new RegExp(`^value\\.${where}(\\.d)+$`));
    },
    () => {
      const where = rng.pick(["spec", "status"]);
      const root: Record<string, unknown> = {};
      const cycle = circular();
      const keys = plant(rng, root, "loop", cycle);
      return ok(`cycle in ${where}`, { ...base, [where]: root }, new RegExp(`^${escapeRegExp(formatPath(`value.${where}`, keys))}`));
    },
    () => {
      const where = rng.pick(["spec", "status", "metadata"]);
      const root: Record<string, unknown> = {};
      const leaf = rng.chance(0.5) ? () => "fuzz" : Symbol("fuzz");
      const keys = plant(rng, root, "bad", leaf);
      const value = where === "metadata" ? { ...base, metadata: { extra: root } } : { ...base, [where]: root };
      const path = where === "metadata" ? formatPath("value.metadata.extra", keys) : formatPath(`value.${where}`, keys);
      return ok(`${typeof leaf} in ${where}`, value, path);
    },
    () => {
      const w = rng.pick<{ what: string; value: unknown }>([
        { what: "NaN", value: NaN },
        { what: "Infinity", value: Infinity },
        { what: "-1", value: -1 },
        { what: "1.5", value: 1.5 },
        { what: "string", value: "0" },
        { what: "bigint", value: 0n },
        { what: "null", value: null },
        { what: "object", value: {} },
      ]);
      return ok(`expectedRevision ${w.what}`, base, "options.expectedRevision", { expectedRevision: w.value });
    },
    () => {
      // Huge, and wrong: a 2 MiB spec with a polluting key at its end.
      const value = { ...base, spec: { blob: hugeString(), ...pollutingObject("__proto__") } };
      return ok("2 MiB spec with a __proto__ key", value, "value.spec.__proto__");
    },
  ];
  return rng.pick(cases)();
}

// ------------------------------------------------------------------- events

export interface MalformedEvent {
  what: string;
  event: unknown;
  /** The ValidationError's path. */
  path: string | RegExp;
}

/** A valid event about `<kind>/<uid>`, as a plain object. */
export function validEventFor(rng: Rng, kind: string, uid: string): Record<string, unknown> {
  const event: Record<string, unknown> = {
    specversion: "1.0",
    id: `${validToken(rng, 8)}-${rng.int(1e9)}`,
    source: "fuzz",
    type: `io.fuzz.${validToken(rng, 5)}`,
    time: new Date(1_700_000_000_000 + rng.int(1e9)).toISOString(),
    subject: `${kind}/${uid}`,
    datacontenttype: "application/json",
    data: { n: rng.int(1000) },
    resourcekind: kind,
    resourceuid: uid,
  };
  return event;
}

const REQUIRED = ["specversion", "id", "source", "type"] as const;

/**
 * An event with exactly one defect. `wire`: only defects that survive msgpack
 * and JSON unchanged (no functions, symbols, bigints, cycles, undefined, Dates).
 */
export function malformedEvent(rng: Rng, options: { wire?: boolean } = {}): MalformedEvent {
  const wire = options.wire ?? false;
  // About a resource no one registered: a valid copy would change nothing.
  const base = validEventFor(rng, "Unregistered", validToken(rng));
  const wrong = () => (wire ? wrongWireType(rng) : wrongType(rng));
  const set = (what: string, key: string, value: unknown, path: string | RegExp = `event.${key}`): MalformedEvent => ({
    what,
    event: { ...base, [key]: value },
    path,
  });
  const cases: (() => MalformedEvent)[] = [
    () => {
      const w = wire
        ? rng.pick<{ what: string; value: unknown }>([
            { what: "null", value: null },
            { what: "number", value: 42 },
            { what: "string", value: "io.fuzz.event" },
            { what: "array", value: [base] },
            { what: "true", value: true },
          ])
        : rng.pick<{ what: string; value: unknown }>([
            wrongType(rng),
            { what: "undefined", value: undefined },
            { what: "JSON text of an event", value: JSON.stringify(base) },
            { what: "array of the event", value: [base] },
            { what: "class instance", value: Object.assign(new (class FakeEvent {})(), base) },
            { what: "Map of the event", value: new Map(Object.entries(base)) },
          ]);
      // A non-object is refused as a whole; an object-like one (Map, Date, …) is not plain.
      return { what: `event: ${w.what}`, event: w.value, path: /^event(\.specversion)?$/ };
    },
    () => {
      const key = rng.pick(REQUIRED);
      const copy = { ...base };
      delete copy[key];
      return { what: `${key} missing`, event: copy, path: `event.${key}` };
    },
    () => {
      const key = rng.pick(REQUIRED);
      return set(`${key} ${wire ? "null" : "undefined"}`, key, wire ? null : undefined);
    },
    () => set("specversion wrong", "specversion", rng.pick<unknown>(["0.3", "1", "1.0 ", "", "v1.0", 1, 1.0, null])),
    () => {
      const w = wrong();
      return set(`specversion ${w.what}`, "specversion", w.value);
    },
    () => {
      const w = rng.pick<{ what: string; value: unknown }>([
        { what: "empty id", value: "" },
        { what: "id with a newline", value: "a\r\nNats-Msg-Id: b" },
        { what: "id with NUL", value: "a\0b" },
        { what: "id of 257 characters", value: "i".repeat(257) },
        { what: "2 MiB id", value: hugeString() },
        wrong(),
      ]);
      return set(`id: ${w.what}`, "id", w.value);
    },
    () => {
      const w = rng.chance(0.5) ? { what: "empty", value: "" } : wrong();
      return set(`source: ${w.what}`, "source", w.value);
    },
    () => {
      const t = badEventType(rng);
      if (wire && typeof t.value !== "string") return set("type: number", "type", 7);
      return set(`type: ${t.what}`, "type", t.value);
    },
    () => {
      const w = rng.pick<unknown>([
        "yesterday", "2024-13-01T00:00:00Z", "2024-01-01", "2024-01-01 00:00:00", "", "2024-01-01T25:00:00Z",
        "2024-01-01T00:00:00", 1_700_000_000_000, ...(wire ? [null] : [new Date(0), NaN]),
      ]);
      return set(`time: ${String(w)}`, "time", w);
    },
    () => {
      const key = rng.pick(["subject", "datacontenttype", "dataschema"]);
      const w = rng.chance(0.5) ? { what: "empty", value: "" } : wrong();
      // An object-like value reported below the attribute is still about it.
      return set(`${key}: ${w.what}`, key, w.value, new RegExp(`^event\\.${key}`));
    },
    () => set("data_base64 not a string", "data_base64", rng.pick<unknown>([1, null, ["AA=="], { a: 1 }])),
    () => ({ what: "data and data_base64", event: { ...base, data_base64: "AAEC" }, path: /^event/ }),
    () => {
      const k = badKind(rng);
      if (wire && typeof k.value !== "string") return set("resourcekind: number", "resourcekind", 5);
      return set(`resourcekind: ${k.what}`, "resourcekind", k.value, /^event\.resourcekind/);
    },
    () => {
      const u = badUid(rng);
      if (wire && typeof u.value !== "string") return set("resourceuid: array", "resourceuid", ["a"]);
      return set(`resourceuid: ${u.what}`, "resourceuid", u.value, /^event\.resourceuid/);
    },
    () => set("reconcilekey malformed", "reconcilekey", rng.pick<unknown>(["Thing", "/a", "Thing/", "Thing/a/b", "1x/a", "Thing/a b", "Thing/*", 5, null])),
    () => {
      // Extension names: upper case, separators, too long, unicode, prototype keys.
      const name = rng.pick(["Foo", "a-b", "a_b", "a.b", "ab cd", "toolongextensionname1", "ü", "x*", "x>"]);
      return set(`extension name ${JSON.stringify(name)}`, name, "v");
    },
    () => {
      const key = rng.pick(["__proto__", "constructor", "prototype"]);
      return { what: `JSON.parse'd ${key} attribute`, event: { ...base, ...pollutingObject(key) }, path: `event.${key}` };
    },
    () => {
      const name = `fz${rng.string(rng.range(0, 10), LOWER_ALNUM)}`;
      const w = wire
        ? rng.pick<{ what: string; value: unknown }>([
            { what: "object", value: { a: 1 } },
            { what: "array", value: [1] },
            { what: "null", value: null },
            { what: "float", value: 1.5 },
            { what: "deep object", value: deepObject(rng.range(65, 90)) },
          ])
        : rng.pick<{ what: string; value: unknown }>([
            wrongType(rng),
            { what: "2^53", value: 2 ** 53 },
            { what: "float", value: -0.25 },
          ]);
      // 0, -1, true are valid extension values: re-roll those into an object.
      const value = typeof w.value === "boolean" || Number.isSafeInteger(w.value) ? { boxed: w.value } : w.value;
      return set(`extension ${name}: ${w.what}`, name, value);
    },
  ];
  return rng.pick(cases)();
}

// ----------------------------------------------------------- wire messages

export const MSGPACK_CT = "application/cloudevents+msgpack";
export const JSON_CT = "application/cloudevents+json";

/** A raw message for a JetStream bus subject that the bus must dead-letter as undecodable. */
export interface MalformedMessage {
  what: string;
  /** The event type the subject is made of: `<prefix>.<subjectType>`. */
  subjectType: string;
  data: Uint8Array;
  /** `content-type` header; none when undefined. */
  contentType: string | undefined;
  /** What the dead-letter reason must say after "undecodable: ". */
  reason: RegExp;
}

const encoder = new TextEncoder();
const NAMES_SOMETHING = /^(message|content-type|event(\.[A-Za-z0-9_$]+)?): \S/;

/** A raw message body with exactly one defect; `nearMax` makes a ~1 MiB one (a few bytes under max_payload). */
export function malformedMessage(rng: Rng, maxPayload: number, nearMax = false): MalformedMessage {
  // Bodies stay well under max_payload (the 2 MiB names of some event defects
  // would be refused by the client, never reaching the bus): re-roll those.
  for (;;) {
    const message = anyMalformedMessage(rng, maxPayload, nearMax);
    if (message.data.length <= maxPayload - 1024 || nearMax) return message;
  }
}

function anyMalformedMessage(rng: Rng, maxPayload: number, nearMax: boolean): MalformedMessage {
  const type = `io.fuzz.${validToken(rng, 6)}`;
  const valid = { ...validEventFor(rng, "Unregistered", validToken(rng)), type };
  if (nearMax) {
    // Fills the message: with the dead-letter headers added it no longer fits.
    const data = rng.bytes(maxPayload - 64);
    data[0] = 0xc1; // never used in msgpack: undecodable for sure
    return { what: "near-max random bytes", subjectType: type, data, contentType: MSGPACK_CT, reason: /^message: not valid msgpack/ };
  }
  const cases: (() => MalformedMessage)[] = [
    () => {
      const ct = rng.pick([MSGPACK_CT, JSON_CT, undefined]);
      const data = rng.bytes(rng.range(1, 512));
      // 0xc1 is never valid msgpack, and never starts valid JSON: no random body can be an event.
      data[rng.int(Math.min(data.length, 8))] = 0xc1;
      return { what: `random bytes (${ct ?? "no content-type"})`, subjectType: type, data, contentType: ct, reason: NAMES_SOMETHING };
    },
    () => ({ what: "empty body", subjectType: type, data: new Uint8Array(0), contentType: rng.pick([MSGPACK_CT, JSON_CT]), reason: /^message: not valid/ }),
    () => {
      const m = malformedEvent(rng, { wire: true });
      const event = m.event as Record<string, unknown>;
      const subjectType = event && typeof event === "object" && typeof event.type === "string" && /^[A-Za-z0-9_.-]+$/.test(event.type) && !/(^|\.)\.|\.$|^\./.test(event.type) ? event.type : type;
      const asJson = rng.chance(0.4);
      const data = asJson ? encoder.encode(JSON.stringify(m.event)) : encode(m.event);
      const ownProto = typeof event === "object" && event !== null && Object.prototype.hasOwnProperty.call(event, "__proto__");
      // The msgpack decoder itself refuses a __proto__ map key.
      const path = ownProto && !asJson
        ? /^message: not valid msgpack \(The key __proto__ is not allowed\)/
        : typeof m.path === "string" ? new RegExp(`^${escapeRegExp(m.path)}:`) : NAMES_SOMETHING;
      return { what: `${asJson ? "JSON" : "msgpack"} event, ${m.what}`, subjectType, data, contentType: asJson ? JSON_CT : MSGPACK_CT, reason: path };
    },
    () => {
      const key = rng.pick(["__proto__", "constructor", "prototype"]);
      // Written as text: JSON.stringify would not write a __proto__ key of an object literal.
      const json = `${JSON.stringify(valid).slice(0, -1)},"${key}":{"polluted":true}}`;
      return { what: `JSON ${key} attribute`, subjectType: type, data: encoder.encode(json), contentType: JSON_CT, reason: new RegExp(`^event\\.${key}:`) };
    },
    () => {
      const ct = rng.pick(["text/plain", "application/json", "application/msgpack", "application/cloudevents-batch+json", "application/octet-stream", "x"]);
      return { what: `content-type ${ct}`, subjectType: type, data: encode(valid), contentType: ct, reason: /^content-type: / };
    },
    () => ({ what: "msgpack body labelled JSON", subjectType: type, data: encode(valid), contentType: JSON_CT, reason: /^message: not valid UTF-8 JSON/ }),
    () => {
      // Valid event, published where its type does not lead.
      const other = `io.fuzz.${validToken(rng, 7)}x`;
      return { what: "subject does not match the type", subjectType: other, data: encode(valid), contentType: MSGPACK_CT, reason: /^event\.type: / };
    },
    () => {
      const depth = rng.range(1_000, 20_000);
      const json = `${"[".repeat(depth)}${"]".repeat(depth)}`;
      return { what: `JSON nested ${depth} deep`, subjectType: type, data: encoder.encode(json), contentType: JSON_CT, reason: /^event: / };
    },
    () => {
      const value = rng.pick<unknown>([42, "event", null, true, [valid], -1.5]);
      const asJson = rng.chance(0.5);
      return {
        what: `${asJson ? "JSON" : "msgpack"} ${JSON.stringify(value)?.slice(0, 20)}`,
        subjectType: type,
        data: asJson ? encoder.encode(JSON.stringify(value)) : encode(value),
        contentType: asJson ? JSON_CT : MSGPACK_CT,
        reason: /^event: /,
      };
    },
  ];
  return rng.pick(cases)();
}

// ------------------------------------------------------------- stored values

/** Bytes put straight into the KV bucket: `Storage` must never return them as a resource. */
export interface CorruptEntry {
  what: string;
  key: string;
  data: Uint8Array;
  /** The key is `<kind>.<something>` (two tokens), so `loadAll(kind)` lists it (and skips it). */
  listed: boolean;
}

/** A corrupt value under key `<kind>.<uid>`, or a valid value under a key converge never writes. */
export function corruptEntry(rng: Rng, kind: string, uid: string): CorruptEntry {
  const key = `${kind}.${uid}`;
  const good = validResource(rng, kind, uid);
  const cases: (() => CorruptEntry)[] = [
    () => {
      const data = rng.bytes(rng.range(1, 256));
      data[0] = 0xc1;
      return { what: "random bytes", key, data, listed: true };
    },
    () => ({ what: "empty value", key, data: new Uint8Array(0), listed: true }),
    () => ({ what: "JSON text", key, data: encoder.encode(JSON.stringify(good)), listed: true }),
    () => ({ what: "truncated msgpack", key, data: encode(good).slice(0, rng.range(1, 10)), listed: true }),
    () => {
      const value = rng.pick<unknown>([42, kind, null, true, [good], { kind }]);
      return { what: `msgpack ${JSON.stringify(value)?.slice(0, 30)}`, key, data: encode(value), listed: true };
    },
    () => ({ what: "kind differs from the key", key, data: encode({ ...good, kind: `${kind}x` }), listed: true }),
    () => ({ what: "uid differs from the key", key, data: encode({ ...good, uid: `${uid}x` }), listed: true }),
    () => {
      const copy: Record<string, unknown> = { ...good };
      delete copy.spec;
      return { what: "spec missing", key, data: encode(copy), listed: true };
    },
    () => {
      const bad = rng.pick<unknown>([-1, 1.5, "2", null, NaN]);
      return { what: `metadata.generation ${String(bad)}`, key, data: encode({ ...good, metadata: { generation: bad } }), listed: true };
    },
    () => {
      const depth = rng.range(65, 95);
      return { what: `spec nested ${depth} deep`, key, data: encode({ ...good, spec: deepObject(depth) }), listed: true };
    },
    () => {
      const k = rng.pick(["__proto__", "constructor", "prototype"]);
      // encode() writes an own __proto__ key of a JSON.parse'd object as a map key.
      const value = { ...good, spec: pollutingObject(k) };
      return { what: `msgpack ${k} key`, key, data: encode(value), listed: true };
    },
    () => {
      // A key converge never writes (not two tokens of valid names), holding a valid value.
      const foreign = rng.pick([`${kind}.${uid}.extra`, `${kind}.=${uid}`, `9${kind}.${uid}`, `${kind}._${uid}`, `${kind}/${uid}.x`, `${kind}${uid}`]);
      const listed = foreign.startsWith(`${kind}.`) && foreign.indexOf(".", kind.length + 1) < 0;
      return { what: `foreign key ${foreign}`, key: foreign, data: encode(good), listed };
    },
  ];
  return rng.pick(cases)();
}

// -------------------------------------------------------- controller options

/** `new Controller(bus, storage, options)` options with exactly one defect. */
export interface MalformedOptions {
  what: string;
  options: unknown;
  path: string;
}

const noop = (): void => {};

/** A valid options object (every option optional; some given, some undefined). */
export function validControllerOptions(rng: Rng): Record<string, unknown> {
  const options: Record<string, unknown> = { isolation: "inline" };
  if (rng.chance(0.5)) options.workers = rng.range(1, 8);
  if (rng.chance(0.5)) options.maxBatch = rng.range(1, 1000);
  if (rng.chance(0.5)) options.reconcileTimeout = rng.range(1, 2_147_483_647);
  if (rng.chance(0.3)) options.resyncPeriod = rng.chance(0.5) ? undefined : rng.range(1, 100_000);
  if (rng.chance(0.3)) options.workerLogLevel = rng.pick(["debug", "info", "warn", "error", "silent"]);
  if (rng.chance(0.3)) options.eventSource = `urn:${validToken(rng)}`;
  if (rng.chance(0.3)) options.garbageCollection = rng.chance(0.5);
  if (rng.chance(0.3)) options.logger = { debug: noop, info: noop, warn: noop, error: noop };
  if (rng.chance(0.3)) options.rateLimiter = { when: () => 1, forget: noop, numRequeues: () => 0 };
  return options;
}

const OPTION_TYPOS = ["worker", "Workers", "maxbatch", "reconcileTimeOut", "timeout", "rateLimitter", "loggr", "isolaton", "resync", "gc", "eventsource", "workerfile", "metric"];

export function malformedControllerOptions(rng: Rng): MalformedOptions {
  const base = validControllerOptions(rng);
  const with_ = (what: string, name: string, value: unknown): MalformedOptions => ({ what, options: { ...base, [name]: value }, path: `options.${name}` });
  const cases: (() => MalformedOptions)[] = [
    () => {
      const name = rng.chance(0.7) ? rng.pick(OPTION_TYPOS) : validToken(rng, rng.range(3, 12)) + "X";
      return with_(`unknown option ${name}`, name, rng.range(1, 4));
    },
    () => {
      const key = rng.pick(["__proto__", "constructor", "prototype"]);
      return { what: `JSON.parse'd ${key} option`, options: { ...base, ...pollutingObject(key) }, path: `options.${key}` };
    },
    () => {
      const name = rng.pick(["workers", "maxBatch", "reconcileTimeout", "resyncPeriod"]);
      const w = rng.pick<{ what: string; value: unknown }>([
        { what: "0", value: 0 },
        { what: "-1", value: -1 },
        { what: "1.5", value: 1.5 },
        { what: "NaN", value: NaN },
        { what: "Infinity", value: Infinity },
        { what: "string", value: "2" },
        { what: "bigint", value: 2n },
        { what: "null", value: null },
        { what: "true", value: true },
        { what: "object", value: {} },
        { what: "2^53", value: 2 ** 53 },
      ]);
      return with_(`${name} ${w.what}`, name, w.value);
    },
    () => with_("reconcileTimeout beyond the longest timer", rng.pick(["reconcileTimeout", "resyncPeriod"]), 2 ** 31 + rng.int(1e6)),
    () => with_("isolation", "isolation", rng.pick<unknown>(["thread", "", "Worker", "INLINE", 1, null, true])),
    () => with_("workerLogLevel", "workerLogLevel", rng.pick<unknown>(["verbose", "", "INFO", "trace", 1, null])),
    () => with_("eventSource", rng.pick(["eventSource", "workerFile"]), rng.pick<unknown>(["", 1, null, {}, new URL("file:///x.js")])),
    () => with_("garbageCollection", "garbageCollection", rng.pick<unknown>(["true", 1, 0, null, "no"])),
    () => with_("metrics", "metrics", rng.pick<unknown>([{}, new Map(), "metrics", 1, null])),
    () => {
      const partial = rng.pick<unknown>([
        {},
        { when: () => 1 },
        { when: () => 1, forget: noop },
        { when: 1, forget: noop, numRequeues: () => 0 },
        null,
        "exponential",
        () => 1,
      ]);
      return with_("rateLimiter missing methods", "rateLimiter", partial);
    },
    () => {
      const partial = rng.pick<unknown>([{}, { info: noop }, { debug: noop, info: noop, warn: noop }, { debug: noop, info: noop, warn: noop, error: "x" }, null, "console", 1]);
      return with_("logger missing methods", "logger", partial);
    },
    () => {
      const w = rng.pick<{ what: string; value: unknown }>([
        { what: "null", value: null },
        { what: "number", value: 5 },
        { what: "string", value: "inline" },
        { what: "array", value: [base] },
        { what: "Map", value: new Map(Object.entries(base)) },
        { what: "object with a prototype", value: Object.create({ workers: 2 }) },
      ]);
      return { what: `options: ${w.what}`, options: w.value, path: "options" };
    },
  ];
  return rng.pick(cases)();
}
