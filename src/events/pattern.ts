import { ConvergeError } from "../codec/errors.js";

/** A subscription pattern that is not valid; never a silent mismatch. */
export class InvalidPatternError extends ConvergeError {
  readonly pattern: string;
  constructor(pattern: string, reason: string) {
    super("ERR_INVALID_PATTERN", `invalid event pattern ${JSON.stringify(pattern)}: ${reason}`);
    this.pattern = pattern;
  }
}

/** Tests one event type against a compiled pattern. */
export type PatternMatcher = (eventType: string) => boolean;

// The same token alphabet as event types (src/codec/names.ts): a literal
// token can then only ever match itself, on this bus and on a NATS subject.
const LITERAL = /^[A-Za-z0-9_-]+$/;
// Whitespace and control characters get their own message: they are the
// usual way a pattern is wrong by accident (a stray newline, a padded string).
const INVISIBLE = /[\s\p{Cc}]/u;

const STAR = 1;
const TAIL = 2;

/**
 * Compiles a dot-separated pattern once: `*` matches exactly one token, `**`
 * (or its NATS spelling `>`), only as the last token, matches one or more.
 * Throws `InvalidPatternError` naming what is wrong.
 */
export function compilePattern(pattern: string): PatternMatcher {
  if (typeof pattern !== "string") {
    throw new InvalidPatternError(String(pattern), `must be a string, got ${pattern === null ? "null" : typeof pattern}`);
  }
  if (pattern.length === 0) throw new InvalidPatternError(pattern, "must not be empty");
  const invisible = INVISIBLE.exec(pattern);
  if (invisible) {
    const code = invisible[0].codePointAt(0)!.toString(16).padStart(4, "0");
    throw new InvalidPatternError(pattern, `holds whitespace or a control character (U+${code})`);
  }
  if (pattern.startsWith(".")) throw new InvalidPatternError(pattern, "must not start with '.'");
  if (pattern.endsWith(".")) throw new InvalidPatternError(pattern, "must not end with '.'");

  const tokens = pattern.split(".");
  // kinds[i]: 0 literal, STAR one token, TAIL one or more tokens (last only).
  const kinds = new Uint8Array(tokens.length);
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (token === "") throw new InvalidPatternError(pattern, `empty token at position ${i + 1} ('..')`);
    if (token === "*") kinds[i] = STAR;
    else if (token === "**" || token === ">") {
      if (i !== tokens.length - 1) {
        throw new InvalidPatternError(pattern, `'${token}' may only be the last token (found at position ${i + 1})`);
      }
      kinds[i] = TAIL;
    } else if (token.includes("*") || token.includes(">")) {
      throw new InvalidPatternError(pattern, `token ${JSON.stringify(token)} mixes a wildcard with other characters`);
    } else if (!LITERAL.test(token)) {
      throw new InvalidPatternError(
        pattern,
        `token ${JSON.stringify(token)} may hold only letters, digits, '_' and '-'`,
      );
    }
  }

  if (tokens.length === 1 && kinds[0] === TAIL) return matchAnyNonEmpty;
  if (!kinds.includes(STAR) && !kinds.includes(TAIL)) {
    return (eventType) => eventType === pattern;
  }
  return (eventType) => matchTokens(tokens, kinds, eventType);
}

function matchAnyNonEmpty(eventType: string): boolean {
  return typeof eventType === "string" && eventType.length > 0;
}

// Walks the event type in place (indexOf/startsWith with positions) so a
// match allocates nothing.
function matchTokens(tokens: readonly string[], kinds: Uint8Array, eventType: string): boolean {
  if (typeof eventType !== "string") return false;
  const length = eventType.length;
  let pos = 0;
  for (let i = 0; i < tokens.length; i++) {
    // Every pattern token needs at least one event token; a '.' just consumed
    // with nothing after it (pos === length) is an empty token, not a match.
    if (pos >= length) return false;
    const kind = kinds[i];
    if (kind === TAIL) return true;
    let end = eventType.indexOf(".", pos);
    if (end === -1) end = length;
    if (end === pos) return false;
    if (kind !== STAR) {
      const token = tokens[i];
      if (end - pos !== token.length || !eventType.startsWith(token, pos)) return false;
    }
    if (end === length) return i === tokens.length - 1;
    pos = end + 1;
  }
  return false;
}

// A small cache so `matchPattern` in a loop does not re-validate and re-split
// the same pattern; cleared wholesale rather than tracked as an LRU.
const CACHE_LIMIT = 256;
const cache = new Map<string, PatternMatcher>();

/** One-off form of `compilePattern(pattern)(eventType)`; throws on an invalid pattern. */
export function matchPattern(pattern: string, eventType: string): boolean {
  let matcher = cache.get(pattern);
  if (matcher === undefined) {
    matcher = compilePattern(pattern);
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(pattern, matcher);
  }
  return matcher(eventType);
}
