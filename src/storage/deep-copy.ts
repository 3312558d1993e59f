/**
 * A deep copy of stored data. Plain objects and arrays are copied by hand
 * (several times faster than `structuredClone`, which dominated save and load);
 * anything else (Date, Map, typed arrays, …) goes through `structuredClone`,
 * which throws `DataCloneError` for what cannot be copied. Shared sub-objects
 * stay shared in the copy, as with `structuredClone`, so a DAG costs its size,
 * not its number of paths.
 */
export function deepCopy<T>(value: T): T {
  return copy(value, undefined) as T;
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
