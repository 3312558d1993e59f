import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** URL of a built module under dist/ (worker isolation loads built JS). */
export function distUrl(path: string): URL {
  const url = new URL(`../../dist/${path}`, import.meta.url);
  if (!existsSync(fileURLToPath(url))) {
    throw new Error(`${fileURLToPath(url)} is missing: run \`npm run build\` first (npm test does)`);
  }
  return url;
}

// Written once for every runner: the portable harness's (watch-driven, no polling).
export { untilAll } from "../portable/harness.js";
