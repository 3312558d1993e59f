import { ValidationError } from "../codec/errors.js";
import { assertKind } from "../codec/names.js";
import { Counter } from "./metrics-counter.js";
import { exposition, type MetricFamily } from "./metrics-exposition.js";
import { Gauge } from "./metrics-gauge.js";
import { Histogram, type HistogramSnapshot } from "./metrics-histogram.js";
import { CrossLabel, GrowingLabel, type LabelSpace } from "./metrics-labels.js";
import { followNatsStatus, type NatsStatusSource } from "./metrics-nats.js";
import { RunningKeys } from "./metrics-running.js";
import { resized } from "../queue/typed-array.js";

/**
 * How a reconcile ended — controller-runtime's results (`success`, `error`,
 * `requeue`, `requeue_after`) plus converge's finer failures.
 */
export type ReconcileOutcome =
  | "success" // no error, nothing asked
  | "requeue" // no error, `requeue: true` (rate-limited requeue)
  | "requeue_after" // no error, `requeueAfter > 0`
  | "error" // thrown: retried with backoff
  | "terminal" // TerminalError: not retried
  | "timeout" // exceeded reconcileTimeout: retried with backoff
  | "crash" // its worker died: retried with backoff
  | "conflict" // the status write lost a compare-and-swap: rerun at once
  | "interrupted"; // its worker thread was replaced for another key (or its partition lost): retried

export const RECONCILE_OUTCOMES: readonly ReconcileOutcome[] = Object.freeze([
  "success", "requeue", "requeue_after", "error", "terminal", "timeout", "crash", "conflict", "interrupted",
]);

/**
 * The outcome of a settled reconcile, by controller-runtime's precedence: a
 * lost compare-and-swap, then the error (terminal, timeout, worker crash,
 * other), then what the result asked for.
 */
export function reconcileOutcome(
  result: { requeue?: boolean; requeueAfter?: number; error?: { terminal?: boolean; code?: string } },
  conflict = false,
): ReconcileOutcome {
  if (conflict) return "conflict";
  const error = result.error;
  if (error) {
    if (error.terminal || error.code === "ERR_TERMINAL") return "terminal";
    if (error.code === "ERR_RECONCILE_TIMEOUT") return "timeout";
    if (error.code === "ERR_WORKER_CRASH") return "crash";
    if (error.code === "ERR_RECONCILE_INTERRUPTED") return "interrupted";
    return "error";
  }
  if (result.requeueAfter !== undefined && result.requeueAfter > 0) return "requeue_after";
  return result.requeue ? "requeue" : "success";
}

/** Values read at scrape time, from whoever owns them (the queue, the pool). Each is optional. */
export interface ControllerGauges {
  /** Keys ready and waiting for a worker: `queue.len()`. */
  queueDepth?(): number;
  /** Keys waiting for a delay (backoff, requeueAfter): `queue.delayed()`. */
  delayed?(): number;
  /** Busy share of the reconcile slots, 0..1. */
  poolUtilization?(): number;
  /** Scale-out: partitions this process holds now. */
  partitionsOwned?(): number;
  /** Scale-out: lease renewals that failed since the process joined (each may be retried before a lease is lost). */
  leaseRenewFailures?(): number;
}

/** Which way a partition moved, for `converge_partition_handovers_total`. */
export type HandoverDirection = "in" | "out" | "lost";
const HANDOVER_DIRECTIONS: readonly HandoverDirection[] = ["in", "out", "lost"];

export interface ControllerMetricsOptions {
  /** A monotonic clock in ms. Default `performance.now`. */
  now?: () => number;
  /** Bounds in seconds of the queue-wait, work and reconcile-time histograms. */
  durationBuckets?: readonly number[];
  /** Bounds in seconds of the retry-backoff histogram. */
  backoffBuckets?: readonly number[];
}

/** From 100 µs (below that, timers and clocks blur it) to 5 min. */
export const DEFAULT_DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
]);

/** The default rate limiter's range: 5 ms .. 1000 s. */
export const DEFAULT_BACKOFF_BUCKETS: readonly number[] = Object.freeze([
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1000,
]);

export interface KindMetrics {
  adds: number;
  retries: number;
  processing: number;
  unfinishedWorkSeconds: number;
  longestRunningSeconds: number;
  reconciles: Record<ReconcileOutcome, number>;
  queueSeconds: HistogramSnapshot;
  workSeconds: HistogramSnapshot;
  reconcileSeconds: HistogramSnapshot;
  backoffSeconds: HistogramSnapshot;
}

/** Every metric as plain data (JSON-safe); `queue` and `reconciles` add up every kind. */
export interface MetricsSnapshot {
  queue: {
    /** Absent when no callback reports it. */
    depth?: number;
    delayed?: number;
    processing: number;
    adds: number;
    retries: number;
    unfinishedWorkSeconds: number;
    longestRunningSeconds: number;
    queueSeconds: HistogramSnapshot;
    workSeconds: HistogramSnapshot;
    backoffSeconds: HistogramSnapshot;
  };
  reconciles: { total: number; byOutcome: Record<ReconcileOutcome, number>; seconds: HistogramSnapshot };
  pool: { utilization?: number };
  /** Absent until a connection is watched. */
  nats?: { connected: number; disconnects: number; reconnects: number };
  kinds: Record<string, KindMetrics>;
}

const MAX_KINDS = 0xffff;

/**
 * A controller's metrics, modelled on client-go's workqueue metrics and
 * controller-runtime's reconcile metrics, as Prometheus text (`prometheus()`)
 * and as plain data (`snapshot()`).
 *
 * The controller reports what happens to each key by its queue handle; a
 * handle is bound to its kind once (`bind`), so no hook hashes a string or
 * allocates. Per handle the metrics remember when it became (or will become)
 * ready and when it started, which gives time in queue, work duration,
 * unfinished work and the longest running reconcile without the controller
 * keeping clocks. Hooks take an optional `now` (from `now()`), so a batch can
 * read the clock once.
 */
export class ControllerMetrics {
  readonly #now: () => number;
  readonly #kinds = new GrowingLabel("kind");
  readonly #families: MetricFamily[];
  readonly #extra: MetricFamily[] = [];
  readonly #running = new RunningKeys();
  /** Per handle: its kind's index. */
  #kindOf = new Uint16Array(0);
  /** Per handle: when it became (or, delayed, will become) ready; -1 when not pending. */
  #readyAt = new Float64Array(0);
  #gauges: ControllerGauges = {};

  readonly #adds: Counter;
  readonly #retries: Counter;
  readonly #reconciles: Counter;
  readonly #reconcileLabels: CrossLabel;
  readonly #queueSeconds: Histogram;
  readonly #workSeconds: Histogram;
  readonly #reconcileSeconds: Histogram;
  readonly #backoffSeconds: Histogram;
  readonly #handovers: Counter;
  readonly #natsDisconnects: Counter;
  readonly #natsReconnects: Counter;
  #natsWatched = 0;
  #sharded = false;
  #natsConnected = 0;

  constructor(options: ControllerMetricsOptions = {}) {
    if (options === null || typeof options !== "object") throw new ValidationError("metrics options", "must be an object");
    if (options.now !== undefined && typeof options.now !== "function") throw new ValidationError("metrics options.now", "must be a function");
    this.#now = options.now ?? (() => performance.now());
    const durations = options.durationBuckets ?? DEFAULT_DURATION_BUCKETS;
    const kinds = this.#kinds;
    this.#reconcileLabels = new CrossLabel(kinds, "outcome", RECONCILE_OUTCOMES);
    const unlessUnset = (read: () => boolean): LabelSpace => ({ names: [], size: () => (read() ? 1 : 0), values: () => [] });
    const natsLabels = unlessUnset(() => this.#natsWatched > 0);
    const running = (pick: (s: RunningScan) => Float64Array) => (g: Gauge) => {
      const scan = this.#scan();
      for (let k = 0; k < kinds.size(); k++) g.set(k, pick(scan)[k]);
    };
    // A callback gauge is exposed only while its callback is set: no made-up 0.
    const fromCallback = (name: string, help: string, pick: (g: ControllerGauges) => (() => number) | undefined) =>
      new Gauge(name, help, unlessUnset(() => pick(this.#gauges) !== undefined), (g) => g.set(0, Number(pick(this.#gauges)!.call(this.#gauges))));

    this.#adds = new Counter("converge_workqueue_adds_total", "Keys added to the work queue (an add of a key already waiting is not counted).", kinds);
    this.#retries = new Counter("converge_workqueue_retries_total", "Rate-limited requeues: retries with backoff after a failed reconcile.", kinds);
    this.#queueSeconds = new Histogram("converge_workqueue_queue_duration_seconds", "Seconds a key waited in the queue, from ready to picked up by a worker.", durations, kinds);
    this.#workSeconds = new Histogram("converge_workqueue_work_duration_seconds", "Seconds from picking a key up to done: load, reconcile and applying effects.", durations, kinds);
    this.#backoffSeconds = new Histogram("converge_workqueue_retry_backoff_seconds", "Backoff delays given to retried keys, in seconds.", options.backoffBuckets ?? DEFAULT_BACKOFF_BUCKETS, kinds);
    this.#reconciles = new Counter("converge_reconcile_total", "Reconciles by outcome.", this.#reconcileLabels);
    this.#reconcileSeconds = new Histogram("converge_reconcile_time_seconds", "Seconds the reconcile call itself took.", durations, kinds);
    const directions: LabelSpace = { names: ["direction"], size: () => (this.#sharded ? HANDOVER_DIRECTIONS.length : 0), values: (i) => [HANDOVER_DIRECTIONS[i]] };
    this.#handovers = new Counter("converge_partition_handovers_total", "Scale-out: partitions acquired (in), handed over cleanly (out), or whose lease was lost (lost).", directions);
    this.#natsDisconnects = new Counter("converge_nats_disconnects_total", "Times a watched NATS connection lost its server.", natsLabels);
    this.#natsReconnects = new Counter("converge_nats_reconnects_total", "Times a watched NATS connection reconnected.", natsLabels);
    this.#families = [
      fromCallback("converge_workqueue_depth", "Keys ready in the work queue, waiting for a worker.", (g) => g.queueDepth),
      fromCallback("converge_workqueue_delayed", "Keys waiting for a delay (backoff or requeueAfter) before they are ready.", (g) => g.delayed),
      new Gauge("converge_workqueue_processing", "Keys being processed.", kinds, running((s) => s.count)),
      this.#adds,
      this.#queueSeconds,
      this.#workSeconds,
      new Gauge("converge_workqueue_unfinished_work_seconds", "Seconds of work in progress: the running times of every key being processed, added up.", kinds, running((s) => s.unfinished)),
      new Gauge("converge_workqueue_longest_running_processor_seconds", "Seconds the longest-running key being processed has run.", kinds, running((s) => s.longest)),
      this.#retries,
      this.#backoffSeconds,
      this.#reconciles,
      this.#reconcileSeconds,
      fromCallback("converge_pool_utilization", "Busy share of the reconcile slots (worker pool or inline), 0..1.", (g) => g.poolUtilization),
      fromCallback("converge_partitions_owned", "Scale-out: partitions this process holds a lease on.", (g) => g.partitionsOwned),
      this.#handovers,
      fromCallback("converge_lease_renew_failures", "Scale-out: lease renewals that failed since the process joined (a running count).", (g) => g.leaseRenewFailures),
      new Gauge("converge_nats_connected", "Watched NATS connections that are connected now.", natsLabels, (g) => g.set(0, this.#natsConnected)),
      this.#natsDisconnects,
      this.#natsReconnects,
    ];
  }

  // ---- Setup -----------------------------------------------------------------

  /** The index of `kind` (a small integer), added on first sight. Resolve it once, not per call. */
  kindIndex(kind: string): number {
    const k = this.#kinds.find(kind);
    if (k >= 0) return k;
    assertKind(kind, "metrics kind");
    if (this.#kinds.size() >= MAX_KINDS) throw new ValidationError("metrics kind", `more than ${MAX_KINDS} kinds`);
    return this.#kinds.indexOf(kind);
  }

  /** Binds queue handle `h` to kind index `kind`; call it where a key gets its handle. */
  bind(h: number, kind: number): void {
    if (h >= this.#readyAt.length) this.#growHandles(h);
    this.#kindOf[h] = kind;
  }

  /** Sets where the gauges read at scrape time come from (replacing earlier ones). */
  setCallbacks(gauges: ControllerGauges): void {
    if (gauges === null || typeof gauges !== "object") throw new ValidationError("metrics callbacks", "must be an object");
    for (const name of ["queueDepth", "delayed", "poolUtilization", "partitionsOwned", "leaseRenewFailures"] as const) {
      if (gauges[name] !== undefined && typeof gauges[name] !== "function") {
        throw new ValidationError(`metrics callbacks.${name}`, "must be a function returning a number");
      }
    }
    this.#gauges = { ...gauges };
    if (gauges.partitionsOwned !== undefined) this.#sharded = true;
  }

  /** Scale-out: a partition moved (`in`: acquired; `out`: handed over; `lost`: its lease could not be renewed). */
  partitionHandover(direction: HandoverDirection): void {
    this.#sharded = true;
    this.#handovers.inc(HANDOVER_DIRECTIONS.indexOf(direction));
  }

  /**
   * Counts the disconnects and reconnects of `nc` and whether it is connected,
   * until it closes. Returns a function that stops watching.
   */
  watchNatsConnection(nc: NatsStatusSource): () => void {
    let connected = nc.isClosed?.() !== true;
    let watching = true;
    const stop = followNatsStatus(nc, (change) => {
      if (!watching) return;
      if (change === "disconnect") this.#natsDisconnects.inc();
      if (change === "reconnect") this.#natsReconnects.inc();
      const up = change === "reconnect";
      if (up !== connected) this.#natsConnected += up ? 1 : -1;
      connected = up;
    });
    this.#natsWatched++;
    if (connected) this.#natsConnected++;
    return () => {
      if (!watching) return;
      watching = false;
      if (connected) this.#natsConnected--;
      connected = false;
      stop();
    };
  }

  /** Adds families of your own to the exposition (after the controller's). */
  register(...families: MetricFamily[]): void {
    const names = new Set([...this.#families, ...this.#extra].map((f) => f.name));
    for (const family of families) {
      if (names.has(family.name)) throw new ValidationError("metric name", `${family.name} is registered already`);
      names.add(family.name);
      this.#extra.push(family);
    }
  }

  // ---- Hot path: no allocation, no hashing ------------------------------------

  /** The metrics clock (ms), to pass to several hooks at once. */
  now(): number {
    return this.#now();
  }

  /** `h` was added, ready now (a plain add). */
  added(h: number, now: number = this.#now()): void {
    if (h >= this.#readyAt.length) this.#growHandles(h);
    const at = this.#readyAt[h];
    if (at < 0) {
      // client-go counts an add only when the key was not waiting already.
      this.#adds.inc(this.#kindOf[h]);
      this.#readyAt[h] = now;
    } else if (now < at) {
      this.#readyAt[h] = now; // a delayed key made ready now
    }
  }

  /** `h` was added to become ready after `delayMs` (requeueAfter, enqueueAfter); the earliest time wins. */
  addedAfter(h: number, delayMs: number, now: number = this.#now()): void {
    if (!(delayMs > 0)) return this.added(h, now);
    if (h >= this.#readyAt.length) this.#growHandles(h);
    const due = now + delayMs;
    const at = this.#readyAt[h];
    if (at < 0) {
      this.#adds.inc(this.#kindOf[h]);
      this.#readyAt[h] = due;
    } else if (due < at) {
      this.#readyAt[h] = due;
    }
  }

  /** `h` failed and was requeued with backoff `backoffMs` (a rate-limited add). */
  retried(h: number, backoffMs: number, now: number = this.#now()): void {
    if (h >= this.#readyAt.length) this.#growHandles(h);
    const kind = this.#kindOf[h];
    this.#retries.inc(kind);
    this.#backoffSeconds.observe(kind, backoffMs / 1000);
    this.addedAfter(h, backoffMs, now);
  }

  /** A worker picked `h` up: its wait in the queue ends, its work starts. */
  dequeued(h: number, now: number = this.#now()): void {
    if (h >= this.#readyAt.length) this.#growHandles(h);
    const kind = this.#kindOf[h];
    const at = this.#readyAt[h];
    if (at >= 0) {
      this.#queueSeconds.observe(kind, now > at ? (now - at) / 1000 : 0);
      this.#readyAt[h] = -1;
    }
    this.#running.start(h, kind, now);
  }

  /**
   * The reconcile of `h` ended with `outcome`; `durationMs` is the reconcile
   * call's own time (leave it out when unknown, e.g. for a crashed worker's keys).
   */
  reconciled(h: number, outcome: ReconcileOutcome, durationMs?: number): void {
    const kind = h < this.#kindOf.length ? this.#kindOf[h] : 0;
    this.#reconciles.inc(this.#reconcileLabels.index(kind, outcomeIndex(outcome)));
    if (durationMs !== undefined) this.#reconcileSeconds.observe(kind, durationMs / 1000);
  }

  /** `h` is done (`queue.doneHandle`): its work ends, whatever happened. */
  done(h: number, now: number = this.#now()): void {
    const started = this.#running.finish(h);
    if (started >= 0) this.#workSeconds.observe(this.#kindOf[h], now > started ? (now - started) / 1000 : 0);
  }

  // ---- Reading ---------------------------------------------------------------

  /** Every family, the controller's first; for a registry of your own. */
  families(): MetricFamily[] {
    return [...this.#families, ...this.#extra];
  }

  /** Prometheus text exposition format 0.0.4 (serve it as PROMETHEUS_CONTENT_TYPE). */
  prometheus(): string {
    return exposition(this.families());
  }

  snapshot(): MetricsSnapshot {
    const scan = this.#scan();
    const kinds: Record<string, KindMetrics> = {};
    const totals = Object.fromEntries(RECONCILE_OUTCOMES.map((o) => [o, 0])) as Record<ReconcileOutcome, number>;
    let adds = 0;
    let retries = 0;
    this.#kinds.all().forEach((kind, k) => {
      const reconciles = {} as Record<ReconcileOutcome, number>;
      RECONCILE_OUTCOMES.forEach((o, j) => {
        reconciles[o] = this.#reconciles.get(this.#reconcileLabels.index(k, j));
        totals[o] += reconciles[o];
      });
      adds += this.#adds.get(k);
      retries += this.#retries.get(k);
      kinds[kind] = {
        adds: this.#adds.get(k),
        retries: this.#retries.get(k),
        processing: scan.count[k],
        unfinishedWorkSeconds: scan.unfinished[k],
        longestRunningSeconds: scan.longest[k],
        reconciles,
        queueSeconds: this.#queueSeconds.snapshot(k),
        workSeconds: this.#workSeconds.snapshot(k),
        reconcileSeconds: this.#reconcileSeconds.snapshot(k),
        backoffSeconds: this.#backoffSeconds.snapshot(k),
      };
    });
    const all = [...this.#kinds.all().keys()];
    const snapshot: MetricsSnapshot = {
      queue: {
        processing: this.#running.size,
        adds,
        retries,
        unfinishedWorkSeconds: scan.unfinished.reduce((a, b) => a + b, 0),
        longestRunningSeconds: scan.longest.reduce((a, b) => Math.max(a, b), 0),
        queueSeconds: this.#queueSeconds.snapshot(all),
        workSeconds: this.#workSeconds.snapshot(all),
        backoffSeconds: this.#backoffSeconds.snapshot(all),
      },
      reconciles: {
        total: RECONCILE_OUTCOMES.reduce((n, o) => n + totals[o], 0),
        byOutcome: totals,
        seconds: this.#reconcileSeconds.snapshot(all),
      },
      pool: {},
      kinds,
    };
    const depth = this.#read(this.#gauges.queueDepth);
    const delayed = this.#read(this.#gauges.delayed);
    const utilization = this.#read(this.#gauges.poolUtilization);
    if (depth !== undefined) snapshot.queue.depth = depth;
    if (delayed !== undefined) snapshot.queue.delayed = delayed;
    if (utilization !== undefined) snapshot.pool.utilization = utilization;
    if (this.#natsWatched > 0) {
      snapshot.nats = { connected: this.#natsConnected, disconnects: this.#natsDisconnects.get(), reconnects: this.#natsReconnects.get() };
    }
    return snapshot;
  }

  #read(callback: (() => number) | undefined): number | undefined {
    if (callback === undefined) return undefined;
    try {
      return Number(callback.call(this.#gauges));
    } catch {
      return NaN;
    }
  }

  #scan(): RunningScan {
    const n = Math.max(1, this.#kinds.size());
    const scan = { count: new Float64Array(n), unfinished: new Float64Array(n), longest: new Float64Array(n) };
    this.#running.scan(this.#now(), scan.count, scan.unfinished, scan.longest);
    return scan;
  }

  #growHandles(h: number): void {
    const n = Math.max(this.#readyAt.length * 2, h + 1, 1024);
    this.#kindOf = resized(this.#kindOf, n);
    this.#readyAt = resized(this.#readyAt, n, -1);
  }
}

interface RunningScan {
  count: Float64Array;
  unfinished: Float64Array;
  longest: Float64Array;
}

function outcomeIndex(outcome: ReconcileOutcome): number {
  switch (outcome) {
    case "success": return 0;
    case "requeue": return 1;
    case "requeue_after": return 2;
    case "error": return 3;
    case "terminal": return 4;
    case "timeout": return 5;
    case "crash": return 6;
    case "conflict": return 7;
    case "interrupted": return 8;
    default:
      throw new ValidationError("reconcile outcome", `must be one of ${RECONCILE_OUTCOMES.join(", ")}, got ${JSON.stringify(outcome)}`);
  }
}
