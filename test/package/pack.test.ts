import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { installInNewProject, packConverge, ROOT, type PackedConverge } from "../helpers/packed-converge.js";

const ENTRIES = ["converge", "converge/nats", "converge/queue", "converge/metrics"] as const;
const INTERNALS = ["HandleQueue", "KeyInterner", "IntRing", "RingBuffer", "parseControllerOptions", "CONTROLLER_OPTION_NAMES", "ControllerOptionsSchema", "compilePattern"];

/** Runs `code` as an ES module in `dir` on Node; its stdout, or the error text. */
function node(dir: string, code: string): { ok: boolean; out: string } {
  writeFileSync(join(dir, "check.mjs"), code);
  const result = spawnSync(process.execPath, ["check.mjs"], { cwd: dir, encoding: "utf8" });
  return { ok: result.status === 0, out: result.status === 0 ? result.stdout : result.stderr };
}

const exportsOf = (entry: string) => `console.log(JSON.stringify(Object.keys(await import(${JSON.stringify(entry)}))));`;

let packed: PackedConverge;
const dirs: string[] = [];
beforeAll(() => {
  packed = packConverge();
  dirs.push(packed.dir);
}, 120_000);
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("npm pack", () => {
  it("holds the built library, its workers, the manifest, README, LICENSE and CHANGELOG, and nothing else", () => {
    const outside = packed.files.filter(
      (f) => !/^dist\/(src|workers)\/.+\.(js|d\.ts)$/.test(f) && !["package.json", "README.md", "LICENSE", "CHANGELOG.md"].includes(f),
    );
    expect(outside).toEqual([]);
    for (const f of ["LICENSE", "CHANGELOG.md", "README.md", "dist/workers/reconcile-worker.js", "dist/src/cli/main.js"]) expect(packed.files).toContain(f);
    for (const entry of ["index", "nats", "queue", "metrics"]) {
      expect(packed.files).toContain(`dist/src/${entry}.js`);
      expect(packed.files).toContain(`dist/src/${entry}.d.ts`);
    }
  });

  it("exports the four entry points package.json and deno.json both name", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string; exports: Record<string, unknown> };
    const deno = JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8")) as { version: string; exports: Record<string, string> };
    expect(Object.keys(pkg.exports).filter((k) => k !== "./package.json")).toEqual([".", "./nats", "./queue", "./metrics"]);
    expect(Object.keys(deno.exports)).toEqual([".", "./nats", "./queue", "./metrics"]);
    expect(deno.version).toBe(pkg.version);
  });
});

describe("installed without @nats-io", () => {
  let app: string;
  beforeAll(() => {
    app = installInNewProject(packed, { withNats: false });
    dirs.push(app);
  });

  it("`converge` imports, with the core and the in-memory backends and no internals", () => {
    const { ok, out } = node(app, exportsOf("converge"));
    expect(out).toMatch(/^\[/);
    expect(ok).toBe(true);
    const names = JSON.parse(out) as string[];
    for (const name of ["Controller", "BaseReconciler", "InMemoryEventBus", "InMemoryStorage", "StorageClient", "TerminalError", "ExponentialBackoffRateLimiter"]) {
      expect(names).toContain(name);
    }
    for (const name of [...INTERNALS, "JetStreamEventBus", "KvStorage", "connectNats", "ControllerMetrics", "WorkQueue"]) expect(names).not.toContain(name);
  });

  it("`converge/nats` is what needs @nats-io (so the check above ran without it)", () => {
    const { ok, out } = node(app, exportsOf("converge/nats"));
    expect(ok).toBe(false);
    expect(out).toMatch(/ERR_MODULE_NOT_FOUND|Cannot find (package|module)/);
    expect(out).toContain("@nats-io/");
  });

  it("`converge/queue` and `converge/metrics` import too", () => {
    expect(JSON.parse(node(app, exportsOf("converge/queue")).out)).toEqual(expect.arrayContaining(["WorkQueue", "RateLimitedWorkQueue", "DelayScheduler"]));
    expect(JSON.parse(node(app, exportsOf("converge/metrics")).out)).toEqual(expect.arrayContaining(["ControllerMetrics", "serveMetrics", "HealthState"]));
  });
});

describe("installed with its dependencies", () => {
  it("every entry point imports, none exports an internal", () => {
    const app = installInNewProject(packed, { withNats: true });
    dirs.push(app);
    const { ok, out } = node(app, `const all = {}; for (const e of ${JSON.stringify(ENTRIES)}) all[e] = Object.keys(await import(e)); console.log(JSON.stringify(all));`);
    expect(ok, out).toBe(true);
    const all = JSON.parse(out) as Record<string, string[]>;
    expect(all["converge/nats"]).toEqual(expect.arrayContaining(["JetStreamEventBus", "KvStorage", "connectNats"]));
    for (const names of Object.values(all)) for (const internal of INTERNALS) expect(names).not.toContain(internal);
  });

  it("runs the converge command", () => {
    const app = installInNewProject(packed, { withNats: true });
    dirs.push(app);
    const help = execFileSync(process.execPath, [join(app, "node_modules", "converge", "dist", "src", "cli", "main.js"), "--help"], { encoding: "utf8" });
    expect(help).toContain("demo");
  });
});
