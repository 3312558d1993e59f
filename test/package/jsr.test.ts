// JSR-ready: deno.json names the same entry points as package.json, and
// `deno publish --dry-run` accepts the package (explicit types in the public API,
// a license, the published files).
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers/packed-converge.js";

describe("deno publish --dry-run", () => {
  it("passes", () => {
    const result = spawnSync(join(ROOT, "node_modules", ".bin", "deno"), ["publish", "--dry-run", "--allow-dirty"], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1" },
    });
    const out = `${result.stdout}${result.stderr}`;
    expect(out).not.toMatch(/^error/m);
    expect(out).toContain("Success Dry run complete");
    expect(result.status).toBe(0);
    for (const entry of ["src/index.ts", "src/nats.ts", "src/queue.ts", "src/metrics.ts", "workers/reconcile-worker.ts", "LICENSE"]) {
      expect(out).toContain(join(ROOT, entry));
    }
    expect(out).not.toContain(join(ROOT, "test"));
  }, 120_000);
});
