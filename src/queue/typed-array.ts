/** The typed arrays the queue and the controller keep per handle. */
export type TypedArray = Uint8Array | Uint16Array | Int32Array | Float64Array;

/**
 * A new array of `a`'s type and `length` elements holding `a`'s values first,
 * `fill` (default 0) after them. For per-handle tables that grow (callers
 * double, so growth is amortised); never on a hot path.
 */
export function resized<T extends TypedArray>(a: T, length: number, fill = 0): T {
  const next = new (a.constructor as new (length: number) => T)(length);
  if (fill !== 0) next.fill(fill, a.length);
  next.set(a);
  return next;
}
