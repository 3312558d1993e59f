import { isKind, isUid } from "../codec/names.js";

/**
 * The KV key of a resource. Kind and uid are validated names (no `.`, `*`,
 * `>`, whitespace), so the key is always exactly two subject tokens.
 */
export function kvKey(kind: string, uid: string): string {
  return `${kind}.${uid}`;
}

/** Where a stored value lives, for error messages: `converge["Device.d1"]`. */
export function kvWhere(bucket: string, key: string): string {
  return `${bucket}[${JSON.stringify(key)}]`;
}

/**
 * Kind and uid of a key, or `undefined` for a key converge cannot have written
 * (another writer shares the bucket): not two tokens, or not valid names.
 */
export function parseKvKey(key: string): { kind: string; uid: string } | undefined {
  const dot = key.indexOf(".");
  if (dot < 0 || key.indexOf(".", dot + 1) >= 0) return undefined;
  const kind = key.slice(0, dot);
  const uid = key.slice(dot + 1);
  return isKind(kind) && isUid(uid) ? { kind, uid } : undefined;
}
