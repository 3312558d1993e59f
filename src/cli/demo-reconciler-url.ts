import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { RegistrationError } from "../reconcile/errors.js";

/**
 * The demo's reconciler module, by URL: built JS next to this file; run from
 * source (vitest), Node needs the built copy under dist/ — Bun and Deno load the .ts.
 */
export function demoReconcilerUrl(): URL {
  const candidates = [new URL("./demo-device-reconciler.js", import.meta.url)];
  const g = globalThis as { Bun?: unknown; Deno?: unknown };
  if (g.Bun !== undefined || g.Deno !== undefined) candidates.push(new URL("./demo-device-reconciler.ts", import.meta.url));
  candidates.push(new URL("../../dist/src/cli/demo-device-reconciler.js", import.meta.url));
  const found = candidates.find((url) => existsSync(fileURLToPath(url)));
  if (found) return found;
  throw new RegistrationError(`demo reconciler not found (looked for ${candidates.map((u) => fileURLToPath(u)).join(", ")}): run \`npm run build\``);
}
