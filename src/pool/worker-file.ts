import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * The reconcile worker's entry file. Built layout: dist/src/pool -> dist/workers.
 * Run from source (vitest, Bun, Deno), the sibling is a .ts file: Bun and Deno
 * load it directly, Node 20 needs the built one under dist/.
 */
export function defaultWorkerFile(): string {
  const candidates = [new URL("../../workers/reconcile-worker.js", import.meta.url)];
  if (runsTypeScript()) candidates.push(new URL("../../workers/reconcile-worker.ts", import.meta.url));
  candidates.push(new URL("../../dist/workers/reconcile-worker.js", import.meta.url));
  for (const url of candidates) {
    const path = fileURLToPath(url);
    if (existsSync(path)) return path;
  }
  throw new Error(
    `reconcile worker not found (looked for ${candidates.map((u) => fileURLToPath(u)).join(", ")}): run \`npm run build\``,
  );
}

function runsTypeScript(): boolean {
  const g = globalThis as { Bun?: unknown; Deno?: unknown };
  return g.Bun !== undefined || g.Deno !== undefined;
}
