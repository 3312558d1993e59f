import { copyPlainData, NOT_PLAIN } from "./plain-data.js";

/**
 * A deep copy with `structuredClone`'s meaning, for stored data, resources
 * handed to a reconcile and the effects it records. Everyday plain data takes
 * `copyPlainData` (one walk, no Map). Anything else is walked with a Map:
 * plain objects and arrays copied by hand (several times faster than
 * `structuredClone`), other objects (Date, Map, typed arrays, …) through
 * `structuredClone`, which throws `DataCloneError` for what cannot be copied;
 * there shared sub-objects stay shared, so a cycle is kept and a large DAG
 * costs its size, not its number of paths. (A small shared subtree may come
 * out copied once per path.)
 */
export function deepCopy<T>(value: T): T {
  const plain = copyPlainData(value);
  return plain === NOT_PLAIN ? (copy(value, undefined) as T) : (plain as T);
}

function copy(value: unknown, seen: Map<object, unknown> | undefined): unknown {
  if (typeof value !== "object" || value === null) return value;
  const known = seen?.get(value);
  if (known !== undefined) return known;
  if (Array.isArray(value)) {
    const out: unknown[] = new Array(value.length);
    (seen ??= new Map()).set(value, out);
    for (let i = 0; i < value.length; i++) out[i] = copy(value[i], seen);
    return out;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return structuredClone(value);
  const out: Record<string, unknown> = {};
  (seen ??= new Map()).set(value, out);
  for (const key of Object.keys(value)) out[key] = copy((value as Record<string, unknown>)[key], seen);
  return out;
}
