// The controller's side of scale-out, driven by a hand-held Sharding (the
// NATS lease protocol itself is tested in test/cluster/ on real servers).
import { afterEach, describe, expect, it } from "vitest";
import { Controller, InMemoryEventBus, InMemoryStorage, silentLogger, type ReconcileContext, type Resource } from "../../src/index.js";
import { ControllerMetrics } from "../../src/metrics.js";
import { LeaderSharding, type LeaderElection } from "../../src/reconcile/leader-sharding.js";
import { ManualSharding } from "../fixtures/manual-sharding.js";

type Box = Resource<{ n: number }, { by?: string; token?: number }>;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Process {
  name: string;
  controller: Controller;
  sharding: ManualSharding;
  runs: Map<string, number>;
  /** Reconciles of these uids wait until released. */
  hold: Map<string, { started: () => void; release: Promise<void>; signal?: AbortSignal }>;
}

let tokens = 0;
const nextToken = () => ++tokens;

async function process(name: string, storage: InMemoryStorage, bus: InMemoryEventBus, partitions = 4): Promise<Process> {
  const sharding = new ManualSharding(partitions, nextToken);
  const runs = new Map<string, number>();
  const hold: Process["hold"] = new Map();
  const controller = new Controller(bus, storage, { isolation: "inline", logger: silentLogger, sharding });
  await controller.registerReconciler({
    resourceKind: "Box",
    async reconcile(ctx: ReconcileContext, box: Box) {
      runs.set(box.uid, (runs.get(box.uid) ?? 0) + 1);
      const held = hold.get(box.uid);
      if (held) {
        held.signal = ctx.signal;
        held.started();
        await Promise.race([held.release, new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)))]);
      }
    },
  });
  cleanups.push(() => controller.stop());
  return { name, controller, sharding, runs, hold };
}

async function fleet(storage: InMemoryStorage, n: number): Promise<string[]> {
  const uids = Array.from({ length: n }, (_, i) => `box-${i}`);
  for (const uid of uids) await storage.save("Box", uid, { kind: "Box", uid, spec: { n: 1 } });
  return uids;
}

function holdOn(p: Process, uid: string): { started: Promise<void>; release: () => void } {
  let release!: () => void;
  let started!: () => void;
  const startedP = new Promise<void>((resolve) => (started = resolve));
  p.hold.set(uid, { started, release: new Promise<void>((resolve) => (release = resolve)) });
  return { started: startedP, release };
}

async function setup() {
  const storage = new InMemoryStorage();
  const bus = new InMemoryEventBus();
  cleanups.push(async () => {
    await bus.close();
    await storage.close();
  });
  return { storage, bus };
}

describe("sharded controller", () => {
  it("two processes holding complementary partitions reconcile every key exactly once between them", async () => {
    const { storage, bus } = await setup();
    const uids = await fleet(storage, 200);
    const a = await process("a", storage, bus);
    const b = await process("b", storage, bus);
    await a.controller.start();
    await b.controller.start();
    for (const p of [0, 1]) a.sharding.acquire(p);
    for (const p of [2, 3]) b.sharding.acquire(p);
    await expect.poll(() => a.runs.size + b.runs.size).toBe(uids.length);
    await a.controller.idle();
    await b.controller.idle();
    for (const uid of uids) {
      const owner = a.sharding.partitionOf(`Box/${uid}`) < 2 ? a : b;
      const other = owner === a ? b : a;
      expect(owner.runs.get(uid), uid).toBe(1);
      expect(other.runs.has(uid), uid).toBe(false);
    }
    // A change of a key reaches only its holder.
    const uid = uids[0];
    const holder = a.runs.has(uid) ? a : b;
    await storage.save("Box", uid, { kind: "Box", uid, spec: { n: 2 } });
    await expect.poll(() => holder.runs.get(uid)).toBe(2);
    expect((holder === a ? b : a).runs.has(uid)).toBe(false);
  });

  it("hands a partition over only after its running reconcile ended; the new holder lists it afresh", async () => {
    const { storage, bus } = await setup();
    const uids = await fleet(storage, 40);
    const a = await process("a", storage, bus, 1);
    const b = await process("b", storage, bus, 1);
    const slow = uids[3];
    const held = holdOn(a, slow);
    await a.controller.start();
    await b.controller.start();
    a.sharding.acquire(0);
    await held.started;
    let handedOver = false;
    const handover = a.sharding.revoke(0, "handover").then(() => (handedOver = true));
    await new Promise((resolve) => setImmediate(resolve));
    // Still running: the partition is not released yet, and its reconcile was not aborted.
    expect(handedOver).toBe(false);
    expect(a.hold.get(slow)?.signal?.aborted).toBe(false);
    held.release();
    await handover;
    b.sharding.acquire(0);
    await expect.poll(() => b.runs.size).toBe(uids.length);
    expect(a.controller.stats().running).toBe(0);
  });

  it("a lost lease aborts the partition's running reconciles at once and starts nothing more", async () => {
    const { storage, bus } = await setup();
    const uids = await fleet(storage, 10);
    const a = await process("a", storage, bus, 1);
    const held = holdOn(a, uids[0]);
    await a.controller.start();
    a.sharding.acquire(0);
    await held.started;
    await a.sharding.revoke(0, "lost");
    expect(a.hold.get(uids[0])?.signal?.aborted).toBe(true);
    const before = a.runs.get(uids[0]);
    await storage.save("Box", uids[0], { kind: "Box", uid: uids[0], spec: { n: 5 } });
    await a.controller.idle();
    expect(a.runs.get(uids[0])).toBe(before);
    expect(a.controller.stats().interrupted).toBe(1);
  });

  it("counts partitions owned and every move in metrics", async () => {
    const { storage, bus } = await setup();
    await fleet(storage, 5);
    const sharding = new ManualSharding(4, nextToken);
    const metrics = new ControllerMetrics();
    const controller = new Controller(bus, storage, { isolation: "inline", logger: silentLogger, sharding, metrics });
    await controller.registerReconciler({ resourceKind: "Box", async reconcile() {} });
    cleanups.push(() => controller.stop());
    await controller.start();
    for (const p of [0, 1, 2]) sharding.acquire(p);
    await sharding.revoke(0, "handover");
    await sharding.revoke(1, "lost");
    const text = metrics.prometheus();
    expect(text).toContain("converge_partitions_owned 1");
    expect(text).toContain('converge_partition_handovers_total{direction="in"} 3');
    expect(text).toContain('converge_partition_handovers_total{direction="out"} 1');
    expect(text).toContain('converge_partition_handovers_total{direction="lost"} 1');
    expect(text).toContain("converge_lease_renew_failures 0");
  });

  it("lists an acquired partition again, with backoff, when the list fails (NATS away mid-acquisition)", async () => {
    const { storage, bus } = await setup();
    const uids = await fleet(storage, 10);
    let failing = 0;
    const flaky = new Proxy(storage, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (property === "loadAll") {
          return async (...args: Parameters<InMemoryStorage["loadAll"]>) => {
            if (failing > 0) {
              failing--;
              throw new Error("NATS is away");
            }
            return target.loadAll(...args);
          };
        }
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const sharding = new ManualSharding(1, nextToken);
    const runs: string[] = [];
    const controller = new Controller(bus, flaky, { isolation: "inline", logger: silentLogger, sharding });
    await controller.registerReconciler({ resourceKind: "Box", async reconcile(_ctx, box) { runs.push(box.uid); } });
    cleanups.push(() => controller.stop());
    await controller.start();
    failing = 2;
    sharding.acquire(0);
    await expect.poll(() => runs.length, { timeout: 10_000 }).toBe(uids.length);
    expect(failing).toBe(0);
  });

  it("gives each reconcile the fence of its partition", async () => {
    const { storage, bus } = await setup();
    await fleet(storage, 5);
    const sharding = new ManualSharding(1, nextToken);
    const fences: unknown[] = [];
    const controller = new Controller(bus, storage, { isolation: "inline", logger: silentLogger, sharding });
    await controller.registerReconciler({ resourceKind: "Box", async reconcile(ctx) { fences.push(ctx.fence); } });
    cleanups.push(() => controller.stop());
    await controller.start();
    const fence = sharding.acquire(0);
    await expect.poll(() => fences.length).toBe(5);
    expect(fences.every((f) => (f as { token: number }).token === fence.token && (f as { partition: number }).partition === 0)).toBe(true);
  });

  it("with leaderElection, only the leader reconciles; a lost leadership stops it", async () => {
    const { storage, bus } = await setup();
    const uids = await fleet(storage, 20);
    const election = new FakeElection();
    const runs: string[] = [];
    const controller = new Controller(bus, storage, { isolation: "inline", logger: silentLogger, leaderElection: election });
    await controller.registerReconciler({ resourceKind: "Box", async reconcile(_ctx, box) { runs.push(box.uid); } });
    cleanups.push(() => controller.stop());
    await controller.start();
    await controller.idle();
    expect(runs).toEqual([]);
    election.push({ leader: true, token: 7 });
    await expect.poll(() => runs.length).toBe(uids.length);
    election.push({ leader: false, reason: "lost" });
    await expect.poll(() => controller.stats().sharding?.owned).toBe(0);
    await storage.save("Box", uids[0], { kind: "Box", uid: uids[0], spec: { n: 9 } });
    await controller.idle();
    expect(runs.length).toBe(uids.length);
  });

  it("refuses sharding and leaderElection together, and a sharding without its methods", () => {
    const storage = new InMemoryStorage();
    const bus = new InMemoryEventBus();
    const sharding = new ManualSharding(1, nextToken);
    expect(() => new Controller(bus, storage, { sharding, leaderElection: new FakeElection() })).toThrow(/options.leaderElection/);
    expect(() => new Controller(bus, storage, { sharding: {} as never })).toThrow(/options.sharding.*partitionOf/);
    expect(new LeaderSharding(new FakeElection()).partitions).toBe(1);
  });
});

class FakeElection implements LeaderElection {
  isLeader = false;
  token: number | undefined;
  #queue: ({ leader: true; token: number } | { leader: false; reason: string })[] = [];
  #waiting: ((r: IteratorResult<{ leader: true; token: number } | { leader: false; reason: string }>) => void) | undefined;
  #done = false;

  push(change: { leader: true; token: number } | { leader: false; reason: string }): void {
    this.isLeader = change.leader;
    this.token = change.leader ? change.token : undefined;
    const waiting = this.#waiting;
    this.#waiting = undefined;
    if (waiting) waiting({ done: false, value: change });
    else this.#queue.push(change);
  }

  changes() {
    return {
      next: () => {
        const change = this.#queue.shift();
        if (change) return Promise.resolve({ done: false as const, value: change });
        if (this.#done) return Promise.resolve({ done: true as const, value: undefined });
        return new Promise<IteratorResult<{ leader: true; token: number } | { leader: false; reason: string }>>((resolve) => (this.#waiting = resolve));
      },
      return: async () => {
        this.#done = true;
        this.#waiting?.({ done: true, value: undefined });
        return { done: true as const, value: undefined };
      },
    };
  }

  async resign(): Promise<void> {
    this.isLeader = false;
    this.token = undefined;
  }
}
