// Worker isolation on every runtime: a reconciler that exits its worker, dies of
// an uncaught error, spins forever or ignores its abort signal loses no key,
// and no key ever runs in two workers at once (test/fixtures/chaos-reconciler.ts).
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Controller, InMemoryEventBus, InMemoryStorage, silentLogger } from "../../src/index.js";
import { readRunLog, type ChaosMode, type ChaosResource } from "../fixtures/chaos-reconciler.js";
import { untilAll } from "./harness.js";

// Relative to this file: the .ts fixture from source on Bun/Deno, the built one under dist/ on Node.
const CHAOS = new URL("../fixtures/chaos-reconciler.js", import.meta.url);
const MODES = ["exit", "async-throw", "cpu-hang", "ignore-abort", "honour-abort"] as const;

async function withController(
  options: ConstructorParameters<typeof Controller>[2],
  body: (storage: InMemoryStorage, controller: Controller) => Promise<void>,
): Promise<void> {
  const bus = new InMemoryEventBus();
  const storage = new InMemoryStorage();
  const controller = new Controller(bus, storage, { workers: 2, logger: silentLogger, ...options });
  await controller.registerReconciler(CHAOS);
  try {
    await body(storage, controller);
  } finally {
    await controller.stop();
    await bus.close();
    await storage.close();
  }
}

async function create(storage: InMemoryStorage, uid: string, mode: ChaosMode, extra: Partial<ChaosResource["spec"]> = {}): Promise<void> {
  await storage.save("Chaos", uid, { kind: "Chaos", uid, spec: { mode, ...extra } } satisfies ChaosResource);
}

describe("worker isolation", () => {
  it("recovers from crashed, hung and abort-ignoring workers; every key converges", { timeout: 25_000 }, async () => {
    await withController({ reconcileTimeout: 300 }, async (storage, controller) => {
      const uids: string[] = [];
      for (let i = 0; i < 30; i++) {
        uids.push(`ok-${i}`);
        await create(storage, `ok-${i}`, "ok");
      }
      for (const mode of MODES) {
        uids.push(mode);
        await create(storage, mode, mode);
      }
      await controller.start();
      await untilAll<ChaosResource>(storage, "Chaos", uids, (r) => r.status?.done === true, 20_000);
      const stats = controller.stats();
      // Keys stream to every thread at once: a key that shares a thread with a
      // crash fails with it, so which failure each misbehaving key reports
      // depends on timing; that each fails at least once and none is lost does not.
      assert.ok(stats.crashes >= 2, `crashes ${stats.crashes}: exit and async-throw each crash a worker`);
      const failures = stats.crashes + stats.timeouts + stats.interrupted;
      assert.ok(failures >= MODES.length, `failures ${failures}: every misbehaving key fails at least once`);
      assert.ok(stats.threadsReplaced >= 2, `threads replaced ${stats.threadsReplaced}`);
      for (const mode of MODES) {
        const stored = (await storage.load("Chaos", mode)) as ChaosResource;
        assert.ok((stored.status?.attempts ?? 0) >= 2, `${mode} converged on a retry`);
      }
    });
  });

  it("never runs one key in two workers at once (start/end log across threads)", { timeout: 20_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "converge-portable-"));
    try {
      const log = join(dir, "runs.log");
      await withController({ workers: 4, maxBatch: 3 }, async (storage, controller) => {
        const uids = Array.from({ length: 8 }, (_, i) => `k${i}`);
        for (const uid of uids) await create(storage, uid, "ok", { log, work: 3 });
        await controller.start();
        for (let i = 0; i < 400; i++) {
          controller.enqueue({ resourceKind: "Chaos", resourceUid: uids[i % uids.length] });
          if (i % 5 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
        }
        await controller.idle();
      });
      const runs = readRunLog(readFileSync(log, "utf8"));
      assert.deepEqual(runs.overlapping, [], "started while running");
      assert.deepEqual(runs.unfinished, []);
      assert.ok(runs.starts > 8, `only ${runs.starts} runs`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
