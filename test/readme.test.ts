// Every code block of README.md is compiled or run here, against the package as
// a user installs it (packed, unpacked into a new project): ```ts blocks are
// type-checked and built with the README's own tsconfig; the first reconciler
// runs on Node (built), Bun and Deno (from source, registered by its `.js` URL);
// ```sh blocks name only npm scripts that exist.
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { installInNewProject, packConverge, ROOT } from "./helpers/packed-converge.js";

interface Block {
  lang: string;
  code: string;
  /** `light-reconciler.ts` when the block's first line is `// light-reconciler.ts …`. */
  file?: string;
}

const README = readFileSync(join(ROOT, "README.md"), "utf8");
const BLOCKS: Block[] = [...README.matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)].map(([, lang, code]) => ({
  lang,
  code,
  file: /^\/\/ ([\w-]+\.ts)\b/.exec(code)?.[1],
}));
const EXPECTED_OUTPUT = "on: true, conditions: Ready=True";

function run(command: string, args: string[], cwd: string) {
  const result = spawnSync(command, args, { cwd, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  return { status: result.status, out: `${result.stdout}${result.stderr}` };
}

let app = "";
const dirs: string[] = [];
beforeAll(() => {
  const packed = packConverge();
  dirs.push(packed.dir);
  app = installInNewProject(packed, { withNats: true, tools: ["typescript", "@types/node"] });
  dirs.push(app);
  const names = new Set<string>();
  BLOCKS.filter((b) => b.lang === "ts").forEach((block, i) => {
    const name = block.file ?? `readme-block-${i + 1}.ts`;
    if (names.has(name)) throw new Error(`two README blocks are both ${name}`);
    names.add(name);
    writeFileSync(join(app, name), block.code);
  });
  const [tsconfig] = BLOCKS.filter((b) => b.lang === "json");
  writeFileSync(join(app, "tsconfig.json"), tsconfig.code);
}, 120_000);
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("README code blocks", () => {
  it("has the blocks this test knows how to check", () => {
    // `text` blocks are program output shown as it is (nothing to compile).
    expect(new Set(BLOCKS.map((b) => b.lang))).toEqual(new Set(["sh", "ts", "json", "text"]));
    expect(BLOCKS.filter((b) => b.lang === "json")).toHaveLength(1);
    expect(BLOCKS.filter((b) => b.file).map((b) => b.file)).toEqual(["light-reconciler.ts", "main.ts", "device-reconciler.ts", "fleet.ts"]);
  });

  it("keeps the Quick start at two commands", () => {
    const quick = BLOCKS.find((b) => b.lang === "sh")!;
    expect(quick.code.split("\n").filter(Boolean).map((l) => l.split("#")[0].trim())).toEqual(["npm ci && npm start", "npm test"]);
  });

  it("names only npm scripts that exist", () => {
    const scripts = Object.keys((JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts);
    const named = [...README.matchAll(/\bnpm (?:run ([\w:-]+)|(start|test)\b)/g)].map((m) => m[1] ?? m[2]);
    expect(named.length).toBeGreaterThan(3);
    expect(named.filter((name) => !scripts.includes(name))).toEqual([]);
  });

  it("every ts block type-checks and builds against the installed package with the README's tsconfig", () => {
    const { status, out } = run(process.execPath, [join(app, "node_modules", "typescript", "bin", "tsc"), "-p", "."], app);
    expect(out).toBe("");
    expect(status).toBe(0);
  }, 60_000);
});

describe("Your first reconciler, registered by its .js URL", () => {
  it("runs on Node from the build", () => {
    const { status, out } = run(process.execPath, ["dist/main.js"], app);
    expect(out.split("\n")).toContain(EXPECTED_OUTPUT);
    expect(status).toBe(0);
  }, 60_000);

  it("runs on Bun from source", () => {
    const { status, out } = run(join(ROOT, "node_modules", ".bin", "bun"), ["main.ts"], app);
    expect(out.split("\n")).toContain(EXPECTED_OUTPUT);
    expect(status).toBe(0);
  }, 60_000);

  it("runs on Deno from source", () => {
    const { status, out } = run(join(ROOT, "node_modules", ".bin", "deno"), ["run", "-A", "main.ts"], app);
    expect(out.split("\n")).toContain(EXPECTED_OUTPUT);
    expect(status).toBe(0);
  }, 60_000);

  it("the README's device reconciler converges its fleet on Node", () => {
    const { status, out } = run(process.execPath, ["dist/fleet.js"], app);
    expect(status, out).toBe(0);
  }, 60_000);
});
