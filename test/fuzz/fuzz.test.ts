import { afterEach, describe, expect, it } from "vitest";
import {
  BaseReconciler,
  Controller,
  ExponentialBackoffRateLimiter,
  InMemoryEventBus,
  InMemoryStorage,
  newResourceEvent,
  silentLogger,
  type CloudEvent,
  type ControllerOptions,
  type Logger,
  type ReconcileContext,
  type Resource,
} from "../../src/index.js";
import { untilAll } from "../helpers/converged.js";
import {
  Rng,
  fuzzSeed,
  malformedControllerOptions,
  malformedEvent,
  malformedSave,
  validControllerOptions,
  validResource,
  type ValidResource,
} from "./generators.js";
import { Rejections } from "./rejections.js";

// In-memory half of the fuzz (test/fuzz/fuzz-nats.test.ts is the NATS half):
// malformed events and saves, interleaved with valid resources a controller
// must converge. FUZZ_SEED=<n> replays a run.
const MALFORMED = 6_000;
const VALID = 300;
const BAD_OPTIONS = 1_000;

type Thing = Resource<ValidResource["spec"], { seen?: number }>;

class SeenReconciler extends BaseReconciler<Thing> {
  readonly resourceKind = "Thing";
  async reconcile(ctx: ReconcileContext, thing: Thing): Promise<void> {
    thing.status = { seen: thing.spec.value };
    await this.updateStatus(ctx, thing);
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe("fuzz: in-memory bus and storage", () => {
  it(`rejects ${MALFORMED} malformed events and saves with a clear error, counts each, and converges every valid resource`, async ({ onTestFailed }) => {
    const seed = fuzzSeed();
    onTestFailed(() => console.error(`fuzz seed ${seed}: replay with FUZZ_SEED=${seed} npx vitest run test/fuzz/fuzz.test.ts`));
    const rng = new Rng(seed);
    const bus = new InMemoryEventBus(1000, 10, { logger: silentLogger });
    const storage = new InMemoryStorage();
    const controller = new Controller(bus, storage, { isolation: "inline", workers: 2, logger: silentLogger });
    await controller.registerReconciler(new SeenReconciler());
    cleanups.push(async () => {
      await controller.stop();
      await bus.close();
      await storage.close();
    });
    await controller.start();

    const ledger = new Rejections();
    const valid: ValidResource[] = [];
    let validEvents = 0;
    const every = Math.floor((MALFORMED + VALID) / VALID);
    for (let i = 0, malformed = 0; malformed < MALFORMED || valid.length < VALID; i++) {
      if ((i % every === 0 && valid.length < VALID) || malformed >= MALFORMED) {
        const thing = validResource(rng, "Thing", `v${valid.length}`);
        valid.push(thing);
        await storage.save("Thing", thing.uid, thing);
        // A valid event about an earlier resource goes through the same bus as the garbage.
        const about = rng.pick(valid);
        await bus.publish(newResourceEvent("io.fuzz.touched", "Thing", about.uid, { i }));
        validEvents++;
        continue;
      }
      malformed++;
      if (rng.chance(0.5)) {
        const c = malformedEvent(rng);
        await ledger.expect("InMemoryEventBus.publish", { what: c.what, path: c.path }, () => bus.publish(c.event as CloudEvent));
      } else {
        const c = malformedSave(rng, "Thing", `m${malformed}`);
        await ledger.expect("InMemoryStorage.save", { what: c.what, path: c.path }, () =>
          storage.save(c.kind as string, c.uid as string, c.value as Resource, c.options as { expectedRevision?: number }),
        );
      }
    }

    expect(ledger.problems).toEqual([]);
    expect(ledger.total(ledger.sent)).toBe(MALFORMED);
    expect(ledger.total(ledger.rejected)).toBe(MALFORMED);
    // Both paths got a fair share of the garbage.
    expect(ledger.rejected.get("InMemoryEventBus.publish")).toBeGreaterThan(MALFORMED / 3);
    expect(ledger.rejected.get("InMemoryStorage.save")).toBeGreaterThan(MALFORMED / 3);

    // Every valid resource converged, none was lost, nothing malformed was stored.
    await untilAll<Thing>(storage, "Thing", valid.map((t) => t.uid), (t) => t.status?.seen === t.spec.value);
    const stored = await storage.loadAll("Thing");
    expect(stored.length).toBe(VALID);
    for (const thing of valid) {
      const back = stored.find((s) => s.uid === thing.uid);
      expect(back?.spec).toEqual(thing.spec);
    }
    expect(await storage.list("Thingx")).toEqual([]);
    expect(bus.stats().published).toBe(validEvents);
    await controller.idle();
    const stats = controller.stats();
    expect({ failed: stats.failed, terminal: stats.terminal, invalid: stats.invalid, missing: stats.missing }).toEqual({
      failed: 0,
      terminal: 0,
      invalid: 0,
      missing: 0,
    });
    // No polluting key reached a prototype.
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
  });
});

describe("fuzz: controller options", () => {
  it(`rejects ${BAD_OPTIONS} malformed option objects naming the option, and accepts valid ones as given`, async ({ onTestFailed }) => {
    const seed = fuzzSeed();
    onTestFailed(() => console.error(`fuzz seed ${seed}: replay with FUZZ_SEED=${seed} npx vitest run test/fuzz/fuzz.test.ts`));
    const rng = new Rng(seed);
    const bus = new InMemoryEventBus(1000, 10, { logger: silentLogger });
    const storage = new InMemoryStorage();
    const ledger = new Rejections();
    for (let i = 0; i < BAD_OPTIONS; i++) {
      const c = malformedControllerOptions(rng);
      await ledger.expect("new Controller", { what: c.what, path: c.path }, () => new Controller(bus, storage, c.options as ControllerOptions));
      // Valid ones in between are accepted (and never started).
      if (i % 5 === 0) await new Controller(bus, storage, validControllerOptions(rng) as ControllerOptions).stop();
    }
    expect(ledger.problems).toEqual([]);
    expect(ledger.total(ledger.rejected)).toBe(BAD_OPTIONS);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();

    // Objects are used as given, not copied: a class-instance logger keeps its prototype methods and state.
    class RecordingLogger implements Logger {
      readonly lines: string[] = [];
      debug(m: string): void {
        this.lines.push(m);
      }
      info(m: string): void {
        this.lines.push(m);
      }
      warn(m: string): void {
        this.lines.push(m);
      }
      error(m: string): void {
        this.lines.push(m);
      }
    }
    const logger = new RecordingLogger();
    const controller = new Controller(bus, storage, {
      isolation: "inline",
      logger,
      rateLimiter: new ExponentialBackoffRateLimiter<string>(1, 10),
      workers: undefined,
    });
    await controller.registerReconciler(new SeenReconciler());
    expect(logger.lines).toContain("Registered reconciler for Thing");
    await controller.stop();
  });
});
