import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Resource, Storage } from "../../src/index.js";

/** URL of a built module under dist/ (worker isolation loads built JS). */
export function distUrl(path: string): URL {
  const url = new URL(`../../dist/${path}`, import.meta.url);
  if (!existsSync(fileURLToPath(url))) {
    throw new Error(`${fileURLToPath(url)} is missing: run \`npm run build\` first (npm test does)`);
  }
  return url;
}

/**
 * Resolves once every listed resource satisfies `done`, watching storage for
 * changes (no polling, no sleeps); rejects after `limitMs` naming the holdouts.
 */
export async function untilAll<R extends Resource>(
  storage: Storage,
  kind: string,
  uids: readonly string[],
  done: (resource: R) => boolean,
  limitMs = 20_000,
): Promise<void> {
  const pending = new Set(uids);
  const abort = new AbortController();
  const changes = storage.watch(kind, { signal: abort.signal });
  for (const uid of uids) {
    const resource = (await storage.load(kind, uid)) as R | undefined;
    if (resource && done(resource)) pending.delete(uid);
  }
  if (pending.size === 0) {
    abort.abort();
    return;
  }
  const timer = setTimeout(() => abort.abort(), limitMs);
  try {
    for await (const change of changes) {
      if (change.type === "put" && pending.has(change.uid) && done(change.value as R)) pending.delete(change.uid);
      if (pending.size === 0) return;
    }
    throw new Error(`not done within ${limitMs} ms: ${[...pending].slice(0, 10).join(", ")}${pending.size > 10 ? "…" : ""}`);
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}
