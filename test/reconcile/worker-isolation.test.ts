import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Controller, InMemoryEventBus, InMemoryStorage, silentLogger } from "../../src/index.js";
import { readRunLog, type ChaosMode, type ChaosResource } from "../fixtures/chaos-reconciler.js";
import type { Logged } from "../fixtures/logging-reconciler.js";
import { distUrl, untilAll } from "../helpers/converged.js";

const CHAOS = distUrl("test/fixtures/chaos-reconciler.js");
const LOGGING = distUrl("test/fixtures/logging-reconciler.js");

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(options: ConstructorParameters<typeof Controller>[2] = {}) {
  const bus = new InMemoryEventBus();
  const storage = new InMemoryStorage();
  const controller = new Controller(bus, storage, { workers: 2, logger: silentLogger, ...options });
  await controller.registerReconciler(CHAOS);
  cleanups.push(async () => {
    await controller.stop();
    await bus.close();
    await storage.close();
  });
  return { storage, controller };
}

async function create(storage: InMemoryStorage, uid: string, mode: ChaosMode, extra: Partial<ChaosResource["spec"]> = {}) {
  const resource: ChaosResource = { kind: "Chaos", uid, spec: { mode, ...extra } };
  await storage.save("Chaos", uid, resource);
}

const isDone = (r: ChaosResource) => r.status?.done === true;

describe("worker isolation", () => {
  it("brings every log line of a worker's reconciles to the controller's logger, across awaits and concurrent batches", async () => {
    const lines: string[] = [];
    const capture = (level: string) => (message: string) => void lines.push(`${level} ${message}`);
    const logger = { debug: capture("debug"), info: capture("info"), warn: capture("warn"), error: capture("error") };
    const bus = new InMemoryEventBus();
    const storage = new InMemoryStorage();
    // Small batches, so each worker runs two at once and lines cross batches.
    const controller = new Controller(bus, storage, { workers: 2, maxBatch: 5, logger });
    await controller.registerReconciler(LOGGING);
    cleanups.push(async () => {
      await controller.stop();
      await bus.close();
      await storage.close();
    });
    const uids = Array.from({ length: 60 }, (_, i) => `l${i}`);
    for (const [i, uid] of uids.entries()) {
      const r: Logged = { kind: "Logged", uid, spec: { waitMs: i % 7 } };
      await storage.save("Logged", uid, r);
    }
    await controller.start();
    await untilAll(storage, "Logged", uids, (r: Logged) => r.status?.done === true);
    await controller.idle();
    for (const uid of uids) {
      for (const line of [`info before ${uid}`, `warn after ${uid}`, `info ctx ${uid}`, `info written ${uid}`]) {
        expect(lines).toContain(line);
      }
    }
  });


  it("recovers from a worker that exits, one that dies of an uncaught error, one spinning forever and one ignoring abort; every key converges", async () => {
    const { storage, controller } = await setup({ reconcileTimeout: 300 });
    const uids: string[] = [];
    for (let i = 0; i < 60; i++) {
      const uid = `ok-${i}`;
      uids.push(uid);
      await create(storage, uid, "ok");
    }
    for (const mode of ["exit", "async-throw", "cpu-hang", "ignore-abort", "honour-abort"] as const) {
      uids.push(mode);
      await create(storage, mode, mode);
    }
    await controller.start();
    await untilAll<ChaosResource>(storage, "Chaos", uids, isDone, 25_000);
    const stats = controller.stats();
    // Keys stream to both threads at once: which keys share a thread with a
    // crash (and count as crashed too) depends on timing; every misbehaving
    // key fails at least once and none is lost.
    expect(stats.crashes + stats.timeouts + stats.interrupted).toBeGreaterThanOrEqual(5);
    expect(stats.crashes).toBeGreaterThanOrEqual(2);
    expect(stats.threadsReplaced).toBeGreaterThanOrEqual(2);
    for (const mode of ["exit", "async-throw", "cpu-hang", "ignore-abort", "honour-abort"]) {
      const stored = (await storage.load("Chaos", mode)) as ChaosResource;
      expect(stored.status?.attempts, mode).toBeGreaterThanOrEqual(2);
    }
  });

  it("never runs one key in two workers at once (start/end log across threads)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "converge-"));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const log = join(dir, "runs.log");
    const { storage, controller } = await setup({ workers: 4, maxBatch: 3 });
    const uids = Array.from({ length: 8 }, (_, i) => `k${i}`);
    for (const uid of uids) await create(storage, uid, "ok", { log, work: 3 });
    await controller.start();
    for (let i = 0; i < 1000; i++) {
      controller.enqueue({ resourceKind: "Chaos", resourceUid: uids[i % uids.length] });
      if (i % 5 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await controller.idle();
    const runs = readRunLog(readFileSync(log, "utf8"));
    expect(runs.overlapping, "started while running").toEqual([]);
    expect(runs.unfinished).toEqual([]);
    expect(runs.starts).toBeGreaterThan(uids.length);
  });
});
