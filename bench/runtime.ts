// Which runtime runs the bench, and how to start a bench script on each one:
// Node runs the built dist/bench/*.js, Bun and Deno run bench/*.ts directly.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const RUNTIMES = ["node", "bun", "deno"] as const;
export type RuntimeName = (typeof RUNTIMES)[number];

interface RuntimeGlobals {
  Bun?: { version: string; gc(force: boolean): void };
  Deno?: { version: { deno: string; v8: string } };
  gc?: () => void;
}
const g = globalThis as RuntimeGlobals;

export function currentRuntime(): RuntimeName {
  if (g.Bun !== undefined) return "bun";
  if (g.Deno !== undefined) return "deno";
  return "node";
}

/** `node v20.20.2`, `bun 1.4.5`, `deno 2.9.6`: Bun and Deno report a Node version in process.version too. */
export function runtimeVersion(): string {
  if (g.Bun !== undefined) return `bun ${g.Bun.version}`;
  if (g.Deno !== undefined) return `deno ${g.Deno.version.deno}`;
  return `node ${process.version}`;
}

/** The JavaScript engine, for RESULTS.md. */
export function engineVersion(): string {
  if (g.Bun !== undefined) return "JavaScriptCore";
  if (g.Deno !== undefined) return `V8 ${g.Deno.version.v8}`;
  return `V8 ${process.versions.v8}`;
}

/**
 * Gives Bun a `globalThis.gc` (a full, synchronous `Bun.gc(true)`), so the suites'
 * `globalThis.gc?.()` between timed runs collects on every runtime; Node and Deno
 * get theirs from `--expose-gc` (Deno: `--v8-flags=--expose-gc`).
 */
export function installGc(): boolean {
  const bun = g.Bun;
  if (g.gc === undefined && bun !== undefined) g.gc = () => bun.gc(true);
  return typeof g.gc === "function";
}

/** How the suites collect garbage between timed runs here, for RESULTS.md. */
export function gcDescription(): string {
  if (typeof g.gc !== "function") return "no gc exposed: none between timed runs";
  if (g.Bun !== undefined) return "gc: Bun.gc(true)";
  return g.Deno !== undefined ? "gc: --v8-flags=--expose-gc" : "gc: --expose-gc";
}

/** The repository: this file is bench/runtime.ts (Bun, Deno) or dist/bench/runtime.js (Node). */
export function repoRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return join(here, import.meta.url.endsWith(".ts") ? ".." : "../..");
}

/**
 * A module next to `metaUrl` (the caller's import.meta.url), with the caller's own
 * extension: `.ts` when the runtime runs the sources, `.js` under dist/. Worker
 * and reconciler files need this: Deno does not map `.js` to `.ts` for modules a
 * dependency (Piscina's worker) imports.
 */
export function siblingModule(metaUrl: string, name: string): URL {
  return new URL(`./${name}${metaUrl.endsWith(".ts") ? ".ts" : ".js"}`, metaUrl);
}

export interface Command {
  command: string;
  args: string[];
}

/** A measurement a runtime cannot make; a suite reports its row as unmeasured with `reason`. */
export class UnsupportedOnRuntimeError extends Error {
  override readonly name = "UnsupportedOnRuntimeError";
  constructor(
    readonly runtime: RuntimeName,
    readonly reason: string,
  ) {
    super(`${runtime}: ${reason}`);
  }
}

export interface BenchCommandOptions {
  /** Write a V8/Chrome `.cpuprofile` of the child into this directory (`--cpu-prof`; Node and Bun only). */
  cpuProfileDir?: string;
}

/** `bench/<script>` on `runtime`, with garbage collection exposed. */
export function benchCommand(runtime: RuntimeName, script: string, args: string[], options: BenchCommandOptions = {}): Command {
  const root = repoRoot();
  const profile = options.cpuProfileDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${options.cpuProfileDir}`];
  switch (runtime) {
    case "node":
      return { command: binary("node"), args: ["--expose-gc", ...profile, join(root, "dist/bench", `${script}.js`), ...args] };
    case "bun":
      return { command: binary("bun"), args: [...profile, join(root, "bench", `${script}.ts`), ...args] };
    case "deno":
      if (profile.length > 0) throw new UnsupportedOnRuntimeError("deno", "`deno run` has no --cpu-prof (V8's --prof writes a tick log, not a .cpuprofile)");
      return {
        command: binary("deno"),
        args: ["run", "-A", "--sloppy-imports", "--v8-flags=--expose-gc", join(root, "bench", `${script}.ts`), ...args],
      };
  }
}

/** The running runtime's own executable, else the repository's devDependency, else PATH. */
function binary(runtime: RuntimeName): string {
  if (runtime === currentRuntime()) return process.execPath;
  if (runtime === "node") return "node";
  const local = join(repoRoot(), "node_modules/.bin", runtime);
  return existsSync(local) ? local : runtime;
}
