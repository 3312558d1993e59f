import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ValidationError } from "../codec/errors.js";

/**
 * The reconcile worker's entry file. Built layout: dist/src/pool -> dist/workers.
 * Run from source (vitest, Bun, Deno), the sibling is a .ts file: Bun and Deno
 * load it directly, Node 20 needs the built one under dist/. `base`: where
 * this module was loaded from.
 */
export function defaultWorkerFile(base: string = import.meta.url): string {
  // A worker thread starts from a file; a module loaded over the network (a
  // Deno `jsr:` or `https:` import) has none beside it.
  if (!base.startsWith("file:")) {
    throw new ValidationError(
      "workerFile",
      `worker isolation starts its threads from a file, and converge was loaded from ${new URL(base).origin}: ` +
        `install it as a package (npm:converge), pass the controller option workerFile, or use isolation: "inline"`,
    );
  }
  const candidates = [new URL("../../workers/reconcile-worker.js", base)];
  if (runsTypeScript()) candidates.push(new URL("../../workers/reconcile-worker.ts", base));
  candidates.push(new URL("../../dist/workers/reconcile-worker.js", base));
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
