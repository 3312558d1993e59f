import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

// DESIGN.md: folders depend downward only. `nats` is this project's addition
// (docs/architecture.md): NATS client code both NATS backends share, itself
// depending on nothing of ours.
const ALLOWED: Record<string, readonly string[]> = {
  queue: [],
  codec: [],
  nats: [],
  events: ["codec", "nats"],
  storage: ["codec", "nats"],
  cluster: ["codec", "nats"],
  pool: ["codec"],
  metrics: ["codec", "queue"],
  // reconcile may import src/cluster/sharding.ts only (checked below).
  reconcile: ["queue", "events", "storage", "pool", "codec", "metrics", "cluster"],
  cli: ["reconcile", "queue", "events", "storage", "pool", "codec", "nats", "metrics", "cluster"],
};

const SRC = join(import.meta.dirname, "..", "src");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith(".ts") ? [join(dir, entry.name)] : [],
  );
}

/** The folders of ours that `folder`'s files import from (static and dynamic imports, re-exports). */
function dependencies(folder: string): Set<string> {
  const found = new Set<string>();
  for (const file of sourceFiles(join(SRC, folder))) {
    for (const match of readFileSync(file, "utf8").matchAll(/(?:from|import)\s*\(?\s*["']\.\.\/([a-z-]+)\//g)) found.add(match[1]);
  }
  return found;
}

describe("layering", () => {
  it("knows every folder of src/", () => {
    const folders = readdirSync(SRC, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    expect(folders.sort()).toEqual(Object.keys(ALLOWED).sort());
  });

  for (const [folder, allowed] of Object.entries(ALLOWED)) {
    it(`${folder} depends only on ${allowed.length > 0 ? allowed.join(", ") : "nothing of ours"}`, () => {
      const outside = [...dependencies(folder)].filter((dep) => !allowed.includes(dep));
      expect(outside).toEqual([]);
    });
  }

  it("reconcile sees storage and buses through their interfaces: it imports no backend", () => {
    const backends = /(?:from|import)\s*\(?\s*["']\.\.\/(?:storage\/(?:kv-|in-memory)|events\/(?:jetstream-|in-memory))/;
    const offending = sourceFiles(join(SRC, "reconcile")).filter((file) => backends.test(readFileSync(file, "utf8")));
    expect(offending).toEqual([]);
  });

  it("reconcile sees scale-out through the Sharding interface: of src/cluster it imports sharding.ts only", () => {
    const cluster = /(?:from|import)\s*\(?\s*["']\.\.\/cluster\/([^"']+)["']/g;
    const offending = sourceFiles(join(SRC, "reconcile")).flatMap((file) =>
      [...readFileSync(file, "utf8").matchAll(cluster)].filter((m) => m[1] !== "sharding.js").map((m) => `${file}: ${m[1]}`),
    );
    expect(offending).toEqual([]);
  });

  it("the Sharding interface file holds no NATS type", () => {
    expect(readFileSync(join(SRC, "cluster", "sharding.ts"), "utf8")).not.toMatch(/from\s*["'](?:@nats-io|\.\.?\/)/);
  });
});
