import { describe, expect, it } from "vitest";
import { ValidationError } from "../../src/codec/errors.js";
import { Counter } from "../../src/metrics/metrics-counter.js";
import { HealthState } from "../../src/metrics/metrics-health.js";
import { ControllerMetrics, RECONCILE_OUTCOMES, reconcileOutcome, type ReconcileOutcome } from "../../src/metrics/metrics.js";

/** Metrics on a clock the test moves (ms). */
function clocked(): { m: ControllerMetrics; at: (ms: number) => void } {
  let now = 1_000;
  const m = new ControllerMetrics({ now: () => now, durationBuckets: [0.001, 0.01, 0.1, 1], backoffBuckets: [0.01, 0.1, 1] });
  return { m, at: (ms) => (now = 1_000 + ms) };
}

/** The value of one sample line (`name{labels}`) in Prometheus text, or undefined if absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1).replace("+Inf", "Infinity"));
}

describe("ControllerMetrics", () => {
  it("counts an add once while the key waits, and again once it was picked up (client-go's rule)", () => {
    const { m } = clocked();
    const k = m.kindIndex("Device");
    m.bind(7, k);
    m.added(7);
    m.added(7);
    m.addedAfter(7, 500);
    expect(m.snapshot().kinds.Device.adds).toBe(1);
    m.dequeued(7);
    m.added(7); // a change while it is processing: it will run again
    expect(m.snapshot().queue.adds).toBe(2);
  });

  it("measures time in queue from when a key became ready, and for a delayed key from its due time", () => {
    const { m, at } = clocked();
    const k = m.kindIndex("Device");
    m.bind(1, k);
    m.bind(2, k);
    m.bind(3, k);
    at(0);
    m.added(1);
    m.addedAfter(2, 50); // ready at 50
    m.addedAfter(3, 900); // ready at 900 ...
    at(20);
    m.added(3); // ... but a plain add makes it ready now (20)
    at(60);
    m.dequeued(1); // waited 60 ms
    m.dequeued(2); // waited 10 ms past its due time
    m.dequeued(3); // waited 40 ms
    const q = m.snapshot().queue.queueSeconds;
    expect(q.count).toBe(3);
    expect(q.sum).toBeCloseTo(0.11, 9);
    expect(q.buckets).toEqual([
      { le: 0.001, count: 0 },
      { le: 0.01, count: 1 },
      { le: 0.1, count: 3 },
      { le: 1, count: 3 },
    ]);
  });

  it("keeps the earliest due time of repeated delayed adds", () => {
    const { m, at } = clocked();
    m.bind(0, m.kindIndex("Device"));
    at(0);
    m.addedAfter(0, 300);
    m.addedAfter(0, 100);
    m.addedAfter(0, 200);
    at(150);
    m.dequeued(0);
    expect(m.snapshot().queue.queueSeconds.sum).toBeCloseTo(0.05, 9);
  });

  it("measures work from pickup to done, counts outcomes per kind and times the reconcile call", () => {
    const { m, at } = clocked();
    const dev = m.kindIndex("Device");
    const sw = m.kindIndex("Switch");
    m.bind(0, dev);
    m.bind(1, sw);
    at(0);
    m.added(0);
    m.added(1);
    m.dequeued(0);
    m.dequeued(1);
    at(5);
    m.reconciled(0, "success", 3);
    m.done(0);
    at(250);
    m.reconciled(1, "timeout"); // duration unknown: not observed
    m.done(1);
    m.done(1); // a second done is ignored
    const s = m.snapshot();
    expect(s.kinds.Device.workSeconds).toMatchObject({ count: 1, sum: 0.005 });
    expect(s.kinds.Switch.workSeconds).toMatchObject({ count: 1, sum: 0.25 });
    expect(s.kinds.Device.reconcileSeconds).toMatchObject({ count: 1, sum: 0.003 });
    expect(s.kinds.Switch.reconcileSeconds.count).toBe(0);
    expect(s.kinds.Device.reconciles.success).toBe(1);
    expect(s.kinds.Switch.reconciles.timeout).toBe(1);
    expect(s.reconciles.total).toBe(2);
    expect(s.reconciles.byOutcome).toMatchObject({ success: 1, timeout: 1, error: 0 });
    const text = m.prometheus();
    expect(sample(text, 'converge_reconcile_total{kind="Switch",outcome="timeout"}')).toBe(1);
    expect(sample(text, 'converge_reconcile_total{kind="Device",outcome="crash"}')).toBe(0);
    expect(sample(text, 'converge_workqueue_work_duration_seconds_count{kind="Switch"}')).toBe(1);
    expect(sample(text, 'converge_workqueue_work_duration_seconds_bucket{kind="Switch",le="0.1"}')).toBe(0);
    expect(sample(text, 'converge_workqueue_work_duration_seconds_bucket{kind="Switch",le="1"}')).toBe(1);
  });

  it("exposes every outcome for every kind, so a rate over a series that never moved reads 0", () => {
    const { m } = clocked();
    m.kindIndex("Device");
    const text = m.prometheus();
    for (const outcome of RECONCILE_OUTCOMES) {
      expect(sample(text, `converge_reconcile_total{kind="Device",outcome="${outcome}"}`)).toBe(0);
    }
  });

  it("counts retries with the backoff given, and the retry as an add that is ready after the backoff", () => {
    const { m, at } = clocked();
    m.bind(4, m.kindIndex("Device"));
    at(0);
    m.added(4);
    m.dequeued(4);
    m.reconciled(4, "error", 1);
    m.retried(4, 40);
    m.done(4);
    at(45);
    m.dequeued(4);
    const s = m.snapshot();
    expect(s.queue.retries).toBe(1);
    expect(s.queue.adds).toBe(2);
    expect(s.queue.backoffSeconds).toMatchObject({ count: 1, sum: 0.04, buckets: [{ le: 0.01, count: 0 }, { le: 0.1, count: 1 }, { le: 1, count: 1 }] });
    expect(s.queue.queueSeconds.sum).toBeCloseTo(0.005, 9); // 45 - (0 + 40)
    expect(sample(m.prometheus(), 'converge_workqueue_retries_total{kind="Device"}')).toBe(1);
  });

  it("reports unfinished work and the longest running key per kind as of the scrape", () => {
    const { m, at } = clocked();
    const dev = m.kindIndex("Device");
    const sw = m.kindIndex("Switch");
    for (const h of [0, 1]) m.bind(h, dev);
    m.bind(2, sw);
    at(0);
    m.dequeued(0);
    at(4);
    m.dequeued(1);
    m.dequeued(2);
    at(10);
    let s = m.snapshot();
    expect(s.kinds.Device).toMatchObject({ processing: 2, unfinishedWorkSeconds: 0.016, longestRunningSeconds: 0.01 });
    expect(s.kinds.Switch).toMatchObject({ processing: 1, unfinishedWorkSeconds: 0.006, longestRunningSeconds: 0.006 });
    expect(s.queue).toMatchObject({ processing: 3, longestRunningSeconds: 0.01 });
    expect(s.queue.unfinishedWorkSeconds).toBeCloseTo(0.022, 9);
    at(1_010);
    const text = m.prometheus();
    expect(sample(text, 'converge_workqueue_longest_running_processor_seconds{kind="Device"}')).toBeCloseTo(1.01, 9);
    expect(sample(text, 'converge_workqueue_unfinished_work_seconds{kind="Device"}')).toBeCloseTo(2.016, 9);
    expect(sample(text, 'converge_workqueue_processing{kind="Switch"}')).toBe(1);
    m.done(0);
    m.done(1);
    m.done(2);
    s = m.snapshot();
    expect(s.queue).toMatchObject({ processing: 0, unfinishedWorkSeconds: 0, longestRunningSeconds: 0 });
  });

  it("tracks many keys in flight, finishing in any order", () => {
    const { m, at } = clocked();
    const k = m.kindIndex("Device");
    at(0);
    for (let h = 0; h < 5000; h++) {
      m.bind(h, k);
      m.dequeued(h);
    }
    for (let h = 0; h < 5000; h += 2) m.done(h);
    at(100);
    expect(m.snapshot().kinds.Device).toMatchObject({ processing: 2500, longestRunningSeconds: 0.1 });
    for (let h = 4999; h > 0; h -= 2) m.done(h);
    expect(m.snapshot().queue.processing).toBe(0);
    expect(m.snapshot().queue.workSeconds.count).toBe(5000);
  });

  it("reads its callbacks at scrape time, and leaves out what no callback reports", () => {
    const { m } = clocked();
    let depth = 0;
    let reads = 0;
    m.setCallbacks({
      queueDepth: () => {
        reads++;
        return depth;
      },
      poolUtilization: () => 0.5,
    });
    depth = 12;
    expect(sample(m.prometheus(), "converge_workqueue_depth")).toBe(12);
    depth = 3;
    expect(sample(m.prometheus(), "converge_workqueue_depth")).toBe(3);
    expect(m.snapshot().queue.depth).toBe(3);
    expect(reads).toBe(3);
    const text = m.prometheus();
    expect(sample(text, "converge_pool_utilization")).toBe(0.5);
    expect(text).not.toContain("converge_workqueue_delayed");
    expect(text).not.toContain("converge_nats_");
    expect("delayed" in m.snapshot().queue).toBe(false);
    m.setCallbacks({ delayed: () => 9 });
    expect(sample(m.prometheus(), "converge_workqueue_delayed")).toBe(9);
    expect(m.prometheus()).not.toContain("converge_workqueue_depth");
    m.setCallbacks({
      delayed: () => {
        throw new Error("gone");
      },
    });
    expect(m.prometheus()).toContain("\nconverge_workqueue_delayed NaN\n");
    expect(m.snapshot().queue.delayed).toBeNaN();
  });

  it("names every family converge_* with HELP and TYPE, histograms ending in +Inf", () => {
    const { m } = clocked();
    m.kindIndex("Device");
    m.setCallbacks({ queueDepth: () => 0, delayed: () => 0, poolUtilization: () => 0 });
    const text = m.prometheus();
    const types = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((t) => `${t[1]} ${t[2]}`);
    expect(types).toEqual([
      "converge_workqueue_depth gauge",
      "converge_workqueue_delayed gauge",
      "converge_workqueue_processing gauge",
      "converge_workqueue_adds_total counter",
      "converge_workqueue_queue_duration_seconds histogram",
      "converge_workqueue_work_duration_seconds histogram",
      "converge_workqueue_unfinished_work_seconds gauge",
      "converge_workqueue_longest_running_processor_seconds gauge",
      "converge_workqueue_retries_total counter",
      "converge_workqueue_retry_backoff_seconds histogram",
      "converge_reconcile_total counter",
      "converge_reconcile_time_seconds histogram",
      "converge_pool_utilization gauge",
    ]);
    expect([...text.matchAll(/^# HELP (\S+) /gm)].map((h) => h[1])).toEqual(types.map((t) => t.split(" ")[0]));
    expect(sample(text, 'converge_reconcile_time_seconds_bucket{kind="Device",le="+Inf"}')).toBe(0);
  });

  it("adds families of your own after its own, refusing a name twice", () => {
    const { m } = clocked();
    const converged = new Counter("demo_converged_total", "Devices converged.");
    m.register(converged);
    converged.inc(0, 5);
    expect(m.prometheus().endsWith("# TYPE demo_converged_total counter\ndemo_converged_total 5\n")).toBe(true);
    expect(() => m.register(new Counter("demo_converged_total", "again"))).toThrow(/demo_converged_total is registered already/);
    expect(() => m.register(new Counter("converge_reconcile_total", "again"))).toThrow(ValidationError);
  });

  it("keeps kinds apart and resolves a kind to the same index every time", () => {
    const { m } = clocked();
    expect(m.kindIndex("Device")).toBe(0);
    expect(m.kindIndex("Switch")).toBe(1);
    expect(m.kindIndex("Device")).toBe(0);
    expect(Object.keys(m.snapshot().kinds)).toEqual(["Device", "Switch"]);
  });

  it("rejects a bad kind, outcome, callback or option with an error naming it", () => {
    const { m } = clocked();
    m.bind(0, m.kindIndex("Device"));
    expect(() => m.kindIndex("bad kind")).toThrow(/metrics kind: "bad kind" must start with a letter/);
    expect(() => m.reconciled(0, "maybe" as ReconcileOutcome)).toThrow(/reconcile outcome: must be one of success, .*got "maybe"/);
    expect(() => m.setCallbacks({ queueDepth: 3 as unknown as () => number })).toThrow(/metrics callbacks\.queueDepth/);
    expect(() => new ControllerMetrics({ now: 5 as unknown as () => number })).toThrow(/metrics options\.now/);
    expect(() => new ControllerMetrics({ durationBuckets: [2, 1] })).toThrow(/buckets: must be strictly ascending/);
  });

  it("counts adds and work of a handle beyond anything bound so far without failing", () => {
    const { m } = clocked();
    m.kindIndex("Device");
    m.added(100_000);
    m.dequeued(100_000);
    m.done(100_000);
    expect(m.snapshot().kinds.Device).toMatchObject({ adds: 1, workSeconds: { count: 1 } });
  });
});

describe("reconcileOutcome", () => {
  it("ranks a conflict over an error over what the result asked for", () => {
    const timeout = { code: "ERR_RECONCILE_TIMEOUT" };
    expect(reconcileOutcome({ error: timeout }, true)).toBe("conflict");
    expect(reconcileOutcome({ error: { terminal: true, code: "ERR_X" }, requeueAfter: 5 })).toBe("terminal");
    expect(reconcileOutcome({ error: { code: "ERR_TERMINAL" } })).toBe("terminal");
    expect(reconcileOutcome({ error: timeout })).toBe("timeout");
    expect(reconcileOutcome({ error: { code: "ERR_WORKER_CRASH" } })).toBe("crash");
    expect(reconcileOutcome({ error: {}, requeue: true })).toBe("error");
    expect(reconcileOutcome({ requeueAfter: 1000, requeue: true })).toBe("requeue_after");
    expect(reconcileOutcome({ requeueAfter: 0, requeue: true })).toBe("requeue");
    expect(reconcileOutcome({})).toBe("success");
  });
});

describe("HealthState", () => {
  it("is live and not ready at first, ready once marked, not ready again with a reason", () => {
    const h = new HealthState();
    expect(h.report()).toEqual({ live: true, ready: false, reason: "starting" });
    h.markReady();
    expect(h.report()).toEqual({ live: true, ready: true, reason: "" });
    h.markNotReady("stopping");
    expect(h.report()).toEqual({ live: true, ready: false, reason: "stopping" });
  });

  it("stays dead once marked dead: readiness cannot bring it back", () => {
    const h = new HealthState();
    h.markReady();
    h.markDead("dispatch loop failed");
    h.markReady();
    expect(h.report()).toEqual({ live: false, ready: false, reason: "dispatch loop failed" });
  });
});
