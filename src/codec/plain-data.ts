/** How deep objects and arrays may nest in a resource; the resource itself is level 1. */
export const MAX_RESOURCE_DEPTH = 64;

/** What the walks below return when a value needs the full, explaining check. */
export const NOT_PLAIN: unique symbol = Symbol("not plain data");

// Values (objects, array items, fields) a fast walk visits before it gives up:
// a small DAG is walked path by path, so an adversarial one (or a shared array
// of many items) must fall back to the full walk, which visits each shared
// object once and bounds what the value writes out (MAX_WRITTEN_VALUES).
const VALUE_BUDGET = 100_000;

/**
 * Values (objects, arrays, array items, fields) a stored or sent value may hold
 * once written out: an object referenced from several places is written once
 * per path, so a DAG of 31 objects writes out 2^31 of them. Past this, no
 * backend tries to encode it (it would block the event loop for minutes).
 */
export const MAX_WRITTEN_VALUES = 1_000_000;

// Keys that would rewrite a prototype when assigned; the full check names them.
function isForbiddenKey(key: string): boolean {
  return key === "__proto__" || key === "constructor" || key === "prototype";
}

/** A non-object value JSON writes as itself: not a function, symbol, bigint, NaN or infinity. */
function isPlainLeaf(x: unknown): boolean {
  // x - x is 0 for a finite number, NaN for NaN and the infinities.
  if (typeof x === "number") return x - x === 0;
  return typeof x === "string" || typeof x === "boolean" || x === undefined;
}

/**
 * A deep copy of `value` when it is the everyday kind of stored data — plain
 * objects, arrays, strings, finite numbers, booleans, null, undefined fields
 * (not array items: JSON writes those as null) —
 * no deeper than MAX_RESOURCE_DEPTH and of modest size; `NOT_PLAIN` otherwise
 * (a cycle, a forbidden key, a function, a bigint, a Date, a null-prototype
 * object, a huge or shared-heavy tree). It accepts nothing `findUnsafe`
 * rejects, so a copy it returns needs no further data check; on `NOT_PLAIN`
 * the caller runs the full check, which explains what is wrong or copies the
 * unusual value its own way. One walk, no Map: a save's copy and check in the
 * time the check alone took.
 */
export function copyPlainData(value: unknown): unknown {
  let budget = VALUE_BUDGET;
  const walk = (x: unknown, depth: number): unknown => {
    if (--budget < 0) return NOT_PLAIN;
    if (typeof x !== "object") return isPlainLeaf(x) ? x : NOT_PLAIN;
    if (x === null) return null;
    // A cycle runs into the depth bound; the full check reports it as a cycle.
    if (depth > MAX_RESOURCE_DEPTH) return NOT_PLAIN;
    if (Array.isArray(x)) {
      const out = new Array<unknown>(x.length);
      for (let i = 0; i < x.length; i++) {
        const item = walk(x[i], depth + 1);
        if (item === NOT_PLAIN || item === undefined) return NOT_PLAIN;
        out[i] = item;
      }
      return out;
    }
    if (Object.getPrototypeOf(x) !== Object.prototype) return NOT_PLAIN;
    const out: Record<string, unknown> = {};
    // for-in walks V8's enum cache where Object.keys allocates an array per object;
    // hasOwn keeps out anything enumerable someone added to Object.prototype.
    for (const key in x) {
      if (!Object.hasOwn(x, key)) continue;
      if (isForbiddenKey(key)) return NOT_PLAIN;
      const item = walk((x as Record<string, unknown>)[key], depth + 1);
      if (item === NOT_PLAIN) return NOT_PLAIN;
      out[key] = item;
    }
    return out;
  };
  return walk(value, 1);
}

/** `copyPlainData`'s test without the copy: true when the full data check would pass it untouched. */
export function isPlainData(value: unknown): boolean {
  let budget = VALUE_BUDGET;
  const walk = (x: unknown, depth: number): boolean => {
    if (--budget < 0) return false;
    if (typeof x !== "object") return isPlainLeaf(x);
    if (x === null) return true;
    if (depth > MAX_RESOURCE_DEPTH) return false;
    if (Array.isArray(x)) {
      for (let i = 0; i < x.length; i++) if (x[i] === undefined || !walk(x[i], depth + 1)) return false;
      return true;
    }
    if (Object.getPrototypeOf(x) !== Object.prototype) return false;
    for (const key in x) {
      if (!Object.hasOwn(x, key)) continue;
      if (isForbiddenKey(key) || !walk((x as Record<string, unknown>)[key], depth + 1)) return false;
    }
    return true;
  };
  return walk(value, 1);
}

