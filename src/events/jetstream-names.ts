import { ValidationError } from "../codec/errors.js";
import { compilePattern } from "./pattern.js";

// The token alphabet of event types (src/codec/names.ts): a subject built from
// these can never hold a wildcard, whitespace, a control character or a `$`
// that would reach into the server's reserved subjects.
const TOKEN = /^[A-Za-z0-9_-]+$/;
// Stream and consumer names become file names and API subject tokens on the
// server, so the same alphabet, and no dot.
const NAME = /^[A-Za-z0-9_-]+$/;

// Leaves room for `_DLQ` and the server's own suffixes within its 255 limit.
const MAX_NAME = 200;
const MAX_SUBJECT = 200;

/**
 * Checks a stream or consumer name: letters, digits, `_` and `-`, at most 200
 * characters. Throws ValidationError naming `path`.
 */
export function assertJetStreamName(name: unknown, path: string): string {
  if (typeof name !== "string") throw new ValidationError(path, `must be a string, got ${typeOf(name)}`);
  if (name.length === 0) throw new ValidationError(path, "must not be empty");
  if (name.length > MAX_NAME) throw new ValidationError(path, `must be at most ${MAX_NAME} characters`);
  if (!NAME.test(name)) {
    throw new ValidationError(path, `${quote(name)} may hold only letters, digits, '_' and '-' (no '.', wildcards, spaces or control characters)`);
  }
  return name;
}

/**
 * Checks a subject prefix: dot-separated tokens of letters, digits, `_` and
 * `-`, no wildcards, no empty token. Throws ValidationError naming `path`.
 */
export function assertSubjectPrefix(prefix: unknown, path: string): string {
  if (typeof prefix !== "string") throw new ValidationError(path, `must be a string, got ${typeOf(prefix)}`);
  if (prefix.length === 0) throw new ValidationError(path, "must not be empty");
  if (prefix.length > MAX_SUBJECT) throw new ValidationError(path, `must be at most ${MAX_SUBJECT} characters`);
  const tokens = prefix.split(".");
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (token === "") throw new ValidationError(path, `${quote(prefix)} has an empty token at position ${i + 1}`);
    if (!TOKEN.test(token)) {
      throw new ValidationError(
        path,
        `${quote(prefix)} token ${quote(token)} may hold only letters, digits, '_' and '-' (no wildcards, spaces or control characters)`,
      );
    }
  }
  return prefix;
}

/** True when the subject spaces `a.>` and `b.>` share a subject (one prefix is a token prefix of the other). */
export function prefixesOverlap(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}.`) || b.startsWith(`${a}.`);
}

/**
 * The JetStream filter subject for a bus pattern: `**` (or `>`) becomes `>`,
 * `*` stays. Throws InvalidPatternError for an invalid pattern.
 */
export function filterSubject(prefix: string, pattern: string): string {
  compilePattern(pattern);
  const tokens = pattern.split(".");
  const last = tokens.length - 1;
  if (tokens[last] === "**") tokens[last] = ">";
  return `${prefix}.${tokens.join(".")}`;
}

function typeOf(value: unknown): string {
  return value === null ? "null" : Array.isArray(value) ? "array" : typeof value;
}

function quote(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}
