// The package as a user gets it: the library built as `prepare` builds it, packed
// by `npm pack`, unpacked into a new project's node_modules/converge beside links
// to its runtime dependencies only (never the dev tools). Built into a temporary
// directory, so the repository's dist/ (which other suites load) is never touched.
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export const ROOT = join(import.meta.dirname, "..", "..");
const MODULES = join(ROOT, "node_modules");

export interface PackedConverge {
  /** A directory holding the built package and its tarball. */
  readonly dir: string;
  readonly tarball: string;
  /** Paths inside the tarball, without the leading `package/`. */
  readonly files: string[];
}

/** Builds the library (tsconfig.lib.json, as `prepare` does) and packs it. */
export function packConverge(): PackedConverge {
  const dir = mkdtempSync(join(tmpdir(), "converge-pack-"));
  const pkg = join(dir, "package");
  mkdirSync(pkg);
  for (const file of ["package.json", "README.md", "LICENSE", "CHANGELOG.md"]) copyFileSync(join(ROOT, file), join(pkg, file));
  execFileSync(process.execPath, [join(MODULES, "typescript", "bin", "tsc"), "-p", join(ROOT, "tsconfig.lib.json"), "--outDir", join(pkg, "dist")], {
    cwd: ROOT,
    stdio: "pipe",
  });
  // --ignore-scripts: `prepare` would rebuild into this copy's dist, which is what was just done.
  const out = execFileSync("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", dir], { cwd: pkg, encoding: "utf8" });
  const [report] = JSON.parse(out) as [{ filename: string; files: { path: string }[] }];
  return { dir, tarball: join(dir, report.filename), files: report.files.map((f) => f.path).sort() };
}

/** Names of `name`'s dependency closure (dependencies and optional ones present), `name` included. */
function closure(name: string, into: Set<string>): Set<string> {
  if (into.has(name) || !existsSync(join(MODULES, name, "package.json"))) return into;
  into.add(name);
  const manifest = JSON.parse(readFileSync(join(MODULES, name, "package.json"), "utf8")) as {
    dependencies?: Record<string, string>;
    optionalDependencies?: Record<string, string>;
  };
  for (const dep of Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies })) closure(dep, into);
  return into;
}

/**
 * A new project (package.json `"type": "module"`) with `converge` unpacked from
 * the tarball and links to its runtime dependencies; `@nats-io/*` left out when
 * `withNats` is false. Extra links (e.g. `typescript`, `@types/node`) are for
 * tools the project itself would install.
 */
export function installInNewProject(packed: PackedConverge, options: { withNats: boolean; tools?: string[] }): string {
  const app = mkdtempSync(join(tmpdir(), "converge-app-"));
  const target = join(app, "node_modules", "converge");
  mkdirSync(target, { recursive: true });
  execFileSync("tar", ["xzf", packed.tarball, "-C", target, "--strip-components=1"]);
  const manifest = JSON.parse(readFileSync(join(target, "package.json"), "utf8")) as { dependencies: Record<string, string> };
  const names = new Set<string>();
  for (const dep of Object.keys(manifest.dependencies)) {
    if (options.withNats || !dep.startsWith("@nats-io/")) closure(dep, names);
  }
  for (const tool of options.tools ?? []) names.add(tool);
  for (const name of names) {
    const link = join(app, "node_modules", name);
    mkdirSync(dirname(link), { recursive: true });
    if (!existsSync(link)) symlinkSync(join(MODULES, name), link, "dir");
  }
  writeFileSync(
    join(app, "package.json"),
    JSON.stringify({ name: "my-fleet", private: true, type: "module", dependencies: { converge: manifestVersion(target) } }, null, 2),
  );
  return app;
}

function manifestVersion(dir: string): string {
  return (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version: string }).version;
}
