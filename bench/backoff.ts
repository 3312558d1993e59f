import { DelayScheduler } from "../src/queue/delay-scheduler.js";
import { ExponentialBackoffRateLimiter } from "../src/queue/exponential-backoff-rate-limiter.js";
import { RateLimitedWorkQueue } from "../src/queue/rate-limited-work-queue.js";
import type { RateLimiter } from "../src/queue/rate-limiter.js";
import { keepLoopBusy } from "./busy-loop.js";
import { int, ms, nsOrUs, table } from "./format.js";
import type { LatenessSeries } from "./compare.js";
import { cdfPlotSvg, cdfSketch, type CdfSeries } from "./plot.js";
import { figureRow, targetRow, type SuiteContext, type SuiteReport } from "./results.js";
import { runtimeVersion } from "./runtime.js";
import { countBelow, seededRandom, summarize, type Summary } from "./stats.js";

const MIN_DELAY_MS = 10;
const MAX_DELAY_MS = 1000;
const BUSY_CHUNK_MS = 2;

interface LatenessRun {
  label: string;
  /** ms after the due time each key fired (negative: early). */
  lateness: Float64Array;
  early: number;
  summary: Summary;
  /** Main-thread cost of scheduling one key, ns (includes one performance.now()). */
  scheduleNs: number;
  /** Process CPU time from scheduling the first key to the last one firing, ms (busy runs include the spinning). */
  cpuMs: number;
  wallMs: number;
}

type Arm = (delays: Float64Array, due: Float64Array, fire: (h: number) => void) => () => void;

// One DelayScheduler for every key: schedule(h, dueAt).
const viaScheduler: Arm = (delays, due, fire) => {
  const scheduler = new DelayScheduler(fire);
  for (let h = 0; h < delays.length; h++) {
    const at = performance.now() + delays[h];
    due[h] = at;
    scheduler.schedule(h, at);
  }
  return () => scheduler.close();
};

// The baseline: one setTimeout per key.
const viaSetTimeout: Arm = (delays, due, fire) => {
  const timers: ReturnType<typeof setTimeout>[] = new Array(delays.length);
  for (let h = 0; h < delays.length; h++) {
    due[h] = performance.now() + delays[h];
    timers[h] = setTimeout(fire, delays[h], h);
  }
  return () => timers.forEach(clearTimeout);
};

async function measure(label: string, arm: Arm, delays: Float64Array, busy: boolean): Promise<LatenessRun> {
  const n = delays.length;
  const due = new Float64Array(n);
  const lateness = new Float64Array(n);
  let fired = 0;
  let allFired!: () => void;
  const done = new Promise<void>((resolve) => (allFired = resolve));
  const fire = (h: number): void => {
    lateness[h] = performance.now() - due[h];
    if (++fired === n) allFired();
  };
  // No forced collection before a run, unlike the other suites: a full GC
  // shrinks V8's young generation, and the scheduling loop's boxed clock
  // readings then scavenge every few ms, doubling the loop (100 -> 200 ns a
  // key on Node 20); every key due before the loop ends fires that much late,
  // which no process that has not just forced a GC would see. A run leaves
  // about 2 MB of garbage, which the next run's minor GCs take in stride.
  const stopBusy = busy ? keepLoopBusy(BUSY_CHUNK_MS) : () => {};
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const disarm = arm(delays, due, fire);
  const scheduleNs = ((performance.now() - t0) * 1e6) / n;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      done,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`backoff ${label}: ${n - fired} of ${n} keys never fired`)), MAX_DELAY_MS + 60_000);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    stopBusy();
    disarm();
  }
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return { label, lateness, early: countBelow(lateness, 0), summary: summarize(lateness), scheduleNs, cpuMs, wallMs };
}

const PERIODIC_KEYS = 20_000;
const PERIOD_MIN_MS = 2_000;
const PERIOD_MAX_MS = 32_000;

interface PeriodicRun {
  label: string;
  cpuMs: number;
  wallMs: number;
  fires: number;
}

/** Arms every key on its period, calling `fire` at each due time; returns a stop function. */
type PeriodicArm = (periods: Float64Array, fire: (h: number) => void) => () => void;

// One DelayScheduler; each fire re-arms its key a period later.
const periodicScheduler: PeriodicArm = (periods, fire) => {
  const scheduler: DelayScheduler = new DelayScheduler((h) => {
    fire(h);
    scheduler.schedule(h, performance.now() + periods[h]);
  });
  // First due times spread over each key's period: the schedule is in its steady state at once.
  for (let h = 0; h < periods.length; h++) scheduler.schedule(h, performance.now() + periods[h] * ((h * 0.618034) % 1));
  return () => scheduler.close();
};

// One setTimeout per key, re-armed from its own callback.
const periodicSetTimeout: PeriodicArm = (periods, fire) => {
  const timers: ReturnType<typeof setTimeout>[] = new Array(periods.length);
  const onTimer = (h: number): void => {
    fire(h);
    timers[h] = setTimeout(onTimer, periods[h], h);
  };
  for (let h = 0; h < periods.length; h++) timers[h] = setTimeout(onTimer, periods[h] * ((h * 0.618034) % 1), h);
  return () => timers.forEach(clearTimeout);
};

/** Process CPU over `windowMs` of a periodic schedule, after `settleMs` (arming all keys is not counted). */
async function measurePeriodic(label: string, arm: PeriodicArm, periods: Float64Array, windowMs: number, settleMs: number): Promise<PeriodicRun> {
  let fires = 0;
  (globalThis as { gc?: () => void }).gc?.();
  const stop = arm(periods, () => fires++);
  await new Promise((r) => setTimeout(r, settleMs));
  const fires0 = fires;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, windowMs));
  const cpu = process.cpuUsage(cpu0);
  const wallMs = performance.now() - t0;
  stop();
  return { label, cpuMs: (cpu.user + cpu.system) / 1000, wallMs, fires: fires - fires0 };
}

/** Wraps a rate limiter to record what it told the queue, per key. */
function recording(inner: RateLimiter<string>, requested: Map<string, number>): RateLimiter<string> {
  return {
    when: (k) => {
      const d = inner.when(k);
      requested.set(k, d);
      return d;
    },
    forget: (k) => inner.forget(k),
    numRequeues: (k) => inner.numRequeues(k),
  };
}

interface AttemptRow {
  attempt: number;
  requestedMs: number;
  actual: Summary;
  early: number;
}

/**
 * `keys` keys fail `attempts` times each: addRateLimited, await get, done,
 * again. Actual delay = from addRateLimited to the key coming out of get().
 */
async function exponentialSequence(keys: number, attempts: number, baseMs: number, maxMs: number): Promise<AttemptRow[]> {
  const requested = new Map<string, number>();
  const queue = new RateLimitedWorkQueue<string>(recording(new ExponentialBackoffRateLimiter<string>(baseMs, maxMs), requested));
  const names = Array.from({ length: keys }, (_, i) => `Device/retry-${i}`);
  const index = new Map(names.map((k, i) => [k, i]));
  const addedAt = new Float64Array(keys);
  const attempt = new Int32Array(keys);
  const actual = Array.from({ length: attempts }, () => new Float64Array(keys));
  const early = new Int32Array(attempts);
  // Without jitter every key is asked to wait the same per attempt.
  const wanted = new Float64Array(attempts);
  for (let i = 0; i < keys; i++) {
    addedAt[i] = performance.now();
    queue.addRateLimited(names[i]);
  }
  let remaining = keys;
  while (remaining > 0) {
    const key = await queue.get();
    const now = performance.now();
    if (key === undefined) throw new Error("backoff: queue shut down early");
    const i = index.get(key)!;
    const a = attempt[i];
    const req = requested.get(key)!;
    actual[a][i] = now - addedAt[i];
    wanted[a] = req;
    if (actual[a][i] < req) early[a]++;
    queue.done(key);
    attempt[i] = a + 1;
    if (attempt[i] < attempts) {
      addedAt[i] = performance.now();
      queue.addRateLimited(key);
    } else {
      remaining--;
    }
  }
  queue.shutDown();
  return actual.map((values, a) => ({ attempt: a + 1, requestedMs: wanted[a], actual: summarize(values), early: early[a] }));
}

function note(run: LatenessRun, early = run.early, runs = 1): string {
  const s = run.summary;
  return `${early} early${runs > 1 ? ` in ${runs} runs` : ""}, min ${s.min.toFixed(2)}, p50 ${s.p50.toFixed(2)}, p99 ${s.p99.toFixed(2)}, max ${s.max.toFixed(1)} ms`;
}

export async function backoffSuite(ctx: SuiteContext): Promise<SuiteReport> {
  const n = ctx.quick ? 20_000 : 100_000;
  const random = seededRandom(2);
  const delays = Float64Array.from({ length: n }, () => MIN_DELAY_MS + random() * (MAX_DELAY_MS - MIN_DELAY_MS));
  ctx.log(`backoff: ${int(n)} keys, delays uniform in ${MIN_DELAY_MS}..${MAX_DELAY_MS} ms, idle then busy (${BUSY_CHUNK_MS} ms chunks)`);

  // The machine is shared and lateness suffers most when the process is descheduled: every
  // configuration runs `reps` times, interleaved; the run with the median p99 stands for it,
  // and early firings are counted over all runs.
  const reps = ctx.quick ? 1 : 3;
  const configs: { label: string; arm: Arm; busy: boolean }[] = [
    { label: "DelayScheduler, idle loop", arm: viaScheduler, busy: false },
    { label: "setTimeout per key, idle loop", arm: viaSetTimeout, busy: false },
    { label: "DelayScheduler, busy loop", arm: viaScheduler, busy: true },
    { label: "setTimeout per key, busy loop", arm: viaSetTimeout, busy: true },
  ];
  // An untimed, shorter round of each first: the first timed run otherwise
  // measured the JIT's warm-up (its scheduling loop 3x as long, and every key
  // due before the loop ended that much late), not the scheduler.
  const warmUp = delays.slice(0, Math.min(n, 20_000)).map((d) => d / 10);
  // The suites before this one leave their garbage: collected once here, before
  // the warm-up has the young generation grow back, so no old-space collection
  // lands in a timed run.
  (globalThis as { gc?: () => void }).gc?.();
  for (const c of configs) await measure(c.label, c.arm, warmUp, c.busy);
  const measured: LatenessRun[][] = configs.map(() => []);
  for (let rep = 0; rep < reps; rep++) {
    for (const [i, c] of configs.entries()) {
      const r = await measure(c.label, c.arm, delays, c.busy);
      measured[i].push(r);
      ctx.log(`backoff ${r.label}${reps > 1 ? ` (run ${rep + 1})` : ""}: ${note(r)}, schedule ${nsOrUs(r.scheduleNs)}/key, CPU ${r.cpuMs.toFixed(0)} ms in ${r.wallMs.toFixed(0)} ms`);
    }
  }
  const runs = measured.map((list) => [...list].sort((a, b) => a.summary.p99 - b.summary.p99)[list.length >> 1]);
  const earlyAll = measured.map((list) => list.reduce((sum, r) => sum + r.early, 0));
  const p99s = measured.map((list) => list.map((r) => r.summary.p99.toFixed(2)).join(", "));
  const maxes = measured.map((list) => list.map((r) => r.summary.max.toFixed(1)).join(", "));
  // A max is one sample: its target reads the median over runs of each run's max.
  const medianMax = measured.map((list) => [...list.map((r) => r.summary.max)].sort((a, b) => a - b)[list.length >> 1]);
  const [schedIdle, timeoutIdle, schedBusy, timeoutBusy] = runs;

  // Periodic re-arming (a converged fleet's requeueAfter): process CPU of the scheduler against one
  // setTimeout per key, alternated A/B in `periodicRounds` rounds; the ratio is of the CPU totals.
  const periodicRandom = seededRandom(3);
  const periods = Float64Array.from({ length: PERIODIC_KEYS }, () => PERIOD_MIN_MS + periodicRandom() * (PERIOD_MAX_MS - PERIOD_MIN_MS));
  const periodicRounds = ctx.quick ? 1 : 2;
  const periodicWindowMs = (ctx.quick ? 4_000 : 15_000) / periodicRounds;
  const periodicRuns: PeriodicRun[] = [];
  for (let round = 0; round < periodicRounds; round++) {
    const order: [string, PeriodicArm][] = [
      ["DelayScheduler", periodicScheduler],
      ["setTimeout per key", periodicSetTimeout],
    ];
    for (const [label, arm] of round % 2 === 0 ? order : order.reverse()) {
      // Settled once every key is armed at least PERIOD_MIN_MS ahead (those first armed closer have re-armed).
      const r = await measurePeriodic(label, arm, periods, periodicWindowMs, PERIOD_MIN_MS);
      periodicRuns.push(r);
      ctx.log(`backoff periodic ${label} (round ${round + 1}): ${int(r.fires)} fires, CPU ${r.cpuMs.toFixed(0)} ms in ${r.wallMs.toFixed(0)} ms (${((100 * r.cpuMs) / r.wallMs).toFixed(1)}% of a core)`);
    }
  }
  const periodicTotal = (label: string) => {
    const runs = periodicRuns.filter((r) => r.label === label);
    return { cpuMs: runs.reduce((a, r) => a + r.cpuMs, 0), wallMs: runs.reduce((a, r) => a + r.wallMs, 0), fires: runs.reduce((a, r) => a + r.fires, 0) };
  };
  const periodicSched = periodicTotal("DelayScheduler");
  const periodicTimeout = periodicTotal("setTimeout per key");
  const periodicRatio = periodicSched.cpuMs / periodicTimeout.cpuMs;

  const seqKeys = ctx.quick ? 20 : 100;
  const seqAttempts = ctx.quick ? 6 : 10;
  const seqBase = 5;
  const seqMax = ctx.quick ? 80 : 1000;
  const sequence = await exponentialSequence(seqKeys, seqAttempts, seqBase, seqMax);
  const seqEarly = sequence.reduce((a, r) => a + r.early, 0);
  ctx.log(`backoff exponential ${seqBase}..${seqMax} ms, ${seqKeys} keys x ${seqAttempts} attempts: ${seqEarly} early`);

  const targets = [
    targetRow("backoff.early_count", earlyAll[0], 0, "lower", "keys"),
    targetRow("backoff.p99_ms", schedIdle.summary.p99, 2, "lower", "ms"),
    targetRow("backoff.max_ms", medianMax[0], 5, "lower", "ms"),
    targetRow("backoff.busy_early_count", earlyAll[2], 0, "lower", "keys"),
    targetRow("backoff.busy_p99_ms", schedBusy.summary.p99, 4, "lower", "ms"),
    targetRow("backoff.periodic_cpu_vs_settimeout", periodicRatio, 1.0, "lower", "x"),
  ];

  const series: CdfSeries[] = [
    { label: "DelayScheduler, idle", color: "#1f6feb", values: schedIdle.lateness, note: note(schedIdle, earlyAll[0], reps) },
    { label: "setTimeout per key, idle", color: "#d9480f", values: timeoutIdle.lateness, note: note(timeoutIdle, earlyAll[1], reps) },
    { label: `DelayScheduler, busy loop`, color: "#1f6feb", dashed: true, values: schedBusy.lateness, note: note(schedBusy, earlyAll[2], reps) },
    { label: `setTimeout per key, busy loop`, color: "#d9480f", dashed: true, values: timeoutBusy.lateness, note: note(timeoutBusy, earlyAll[3], reps) },
  ];
  // Wide enough for every run's p99 (up to 50 ms); the legend gives what lies beyond.
  const xMax = Math.max(8, Math.min(50, Math.ceil(Math.max(...runs.map((r) => r.summary.p99)) * 1.1)));
  const svg = cdfPlotSvg(series, {
    title: `Backoff lateness: ${int(n)} keys, delays ${MIN_DELAY_MS}..${MAX_DELAY_MS} ms${ctx.quick ? " (quick run)" : ""}`,
    subtitle: `${runtimeVersion()}; scheduler: one timer, no polling; busy = ${BUSY_CHUNK_MS} ms CPU chunks; ${reps > 1 ? `median-p99 run of ${reps}; ` : ""}tails past ${xMax} ms clipped (see legend)`,
    xMin: -3,
    xMax,
    xLabel: "lateness: fire time minus due time (ms)",
  });

  const latenessRows = runs.map((r, i) => [
    r.label,
    int(earlyAll[i]),
    ms(r.summary.min),
    ms(r.summary.p50),
    ms(r.summary.p99),
    ms(r.summary.p999),
    ms(r.summary.max),
    nsOrUs(r.scheduleNs),
    `${(r.cpuMs / 1000).toFixed(2)} s / ${(r.wallMs / 1000).toFixed(2)} s`,
    p99s[i],
    maxes[i],
  ]);
  const seqRows = sequence.map((r) => [
    r.attempt,
    ms(r.requestedMs),
    ms(r.actual.min),
    ms(r.actual.p50),
    ms(r.actual.max),
    ms(r.actual.p50 - r.requestedMs),
    ms(r.actual.max - r.requestedMs),
    r.early,
  ]);
  const markdown = [
    `${int(n)} keys, each with a delay drawn uniformly from ${MIN_DELAY_MS}..${MAX_DELAY_MS} ms (fractional ms, seeded), all scheduled in one synchronous loop. ` +
      `Lateness = \`performance.now()\` in the fire callback minus the due time (\`performance.now()\` at scheduling + delay); negative means it fired early. ` +
      `"busy" runs the same while the event loop spins in ${BUSY_CHUNK_MS} ms CPU chunks (yielding through setImmediate between chunks). ` +
      `Schedule cost = wall time of the scheduling loop / keys (each key also reads \`performance.now()\` once). ` +
      `Each configuration ran ${reps} time${reps > 1 ? "s" : ""}, interleaved with the others, after one untimed shorter round of each (20,000 keys, delays / 10: the JIT's warm-up tripled the first run's scheduling loop), with one forced GC before that round (the earlier suites' garbage, else collected during timed runs: busy p99 7 ms) and none before a run (after one, V8's small young generation doubled the loop); the columns show the run with the median p99 (also plotted), ` +
      `except "early", which counts every run. \`backoff.max_ms\` is the median of the runs' maxima (a max is a single sample). "CPU / wall" is the process's CPU time over the run's wall time. ` +
      `The scheduler sleeps on one timer aimed at the first whole millisecond at or after the earliest due time (keys due within the same millisecond share the wake-up) ` +
      `and re-arms when the timer ran early (libuv's loop clock is whole milliseconds and lags): no polling, so a key fires on the first loop tick after its due time. ` +
      `In a busy run a tick comes only between ${BUSY_CHUNK_MS} ms chunks, which bounds the lateness there.`,
    "",
    `Periodic re-arming, a converged fleet's \`requeueAfter\`: ${int(PERIODIC_KEYS)} keys, each re-armed from its own fire on a fixed period drawn from ${PERIOD_MIN_MS / 1000}..${PERIOD_MAX_MS / 1000} s ` +
      `(first due times spread over each period, so the schedule starts in its steady state; measured after ${PERIOD_MIN_MS / 1000} s, once every key waits at least that long). Process CPU over ${((periodicRounds * periodicWindowMs) / 1000).toFixed(0)} s per contender, ` +
      `in ${periodicRounds} round${periodicRounds > 1 ? "s" : ""} alternating A/B; arming the keys is not counted. ` +
      `\`backoff.periodic_cpu_vs_settimeout\` = the scheduler's CPU / one \`setTimeout\` per key's CPU = ${periodicRatio.toFixed(2)}.`,
    "",
    table(
      ["contender", "fires", "fires/s", "process CPU", "% of a core"],
      [
        ["DelayScheduler", int(periodicSched.fires), int((periodicSched.fires * 1000) / periodicSched.wallMs), `${periodicSched.cpuMs.toFixed(0)} ms`, `${((100 * periodicSched.cpuMs) / periodicSched.wallMs).toFixed(1)}%`],
        ["setTimeout per key", int(periodicTimeout.fires), int((periodicTimeout.fires * 1000) / periodicTimeout.wallMs), `${periodicTimeout.cpuMs.toFixed(0)} ms`, `${((100 * periodicTimeout.cpuMs) / periodicTimeout.wallMs).toFixed(1)}%`],
      ],
    ),
    "",
    table(["run", `early (${reps} runs)`, "min", "p50", "p99", "p99.9", "max", "schedule cost/key", "CPU / wall", "p99 of each run", "max of each run"], latenessRows),
    "",
    `Exponential backoff through \`RateLimitedWorkQueue.addRateLimited\` with \`ExponentialBackoffRateLimiter(${seqBase}, ${seqMax})\`: ` +
      `${seqKeys} keys fail ${seqAttempts} times each (add rate-limited, \`await get()\`, \`done\`, again). ` +
      `Actual delay = from \`addRateLimited\` to the key coming out of \`get()\` (includes the queue's hand-off).`,
    "",
    table(["attempt", "requested", "actual min", "actual p50", "actual max", "p50 - requested", "max - requested", "early"], seqRows),
  ].join("\n");

  return {
    name: "backoff",
    markdown,
    targets,
    figures: [figureRow("backoff.p50_ms", schedIdle.summary.p50, "ms")],
    summary: targets.map((t) => `${t.name} = ${t.value} ${t.unit} (target ${t.better === "higher" ? ">=" : "<="} ${t.target}) ${t.met ? "met" : "MISSED"}`),
    data: {
      keys: n,
      repetitions: reps,
      runs: Object.fromEntries(
        measured.map((list, i) => [configs[i].label, list.map((r) => ({ early: r.early, ...r.summary, scheduleNsPerKey: r.scheduleNs, cpuMs: r.cpuMs, wallMs: r.wallMs }))]),
      ),
      exponential: { keys: seqKeys, baseMs: seqBase, maxMs: seqMax, attempts: sequence },
      periodic: { keys: PERIODIC_KEYS, periodMinMs: PERIOD_MIN_MS, periodMaxMs: PERIOD_MAX_MS, runs: periodicRuns, ratio: periodicRatio },
      svg,
      // For the runner's plot of every runtime (each runs in its own process).
      latenessCdf: series.map((s): LatenessSeries => ({ label: s.label, note: s.note, sketch: cdfSketch(s.values as Float64Array) })),
    },
  };
}
