// `npm start`'s build step: runs the (incremental) build only when a source
// file is newer than the last build, so an unchanged tree starts at once.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const STAMP = "dist/.build-stamp";
const INPUTS = ["src", "workers", "examples", "bench", "test/fixtures", "tsconfig.json", "tsconfig.build.json", "package.json"];

function newest(path) {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let latest = stat.mtimeMs; // a deleted file changes its directory
  for (const entry of readdirSync(path)) latest = Math.max(latest, newest(join(path, entry)));
  return latest;
}

const built = existsSync(STAMP) ? statSync(STAMP).mtimeMs : 0;
if (INPUTS.some((input) => newest(input) > built)) {
  const started = Date.now();
  const result = spawnSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json", "--incremental", "--tsBuildInfoFile", "dist/.tsbuildinfo"], { stdio: "inherit" });
  if (result.status !== 0) process.exit(result.status ?? 1);
  // Stamped with the build's start: a file saved during the build is built next time.
  writeFileSync(STAMP, "");
  const { utimesSync } = await import("node:fs");
  utimesSync(STAMP, new Date(started), new Date(started));
}
