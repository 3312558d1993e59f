import Denque from "denque";
import fastq from "fastq";
import PQueue from "p-queue";
import { Bench } from "tinybench";
import { HandleQueue } from "../src/queue/handle-queue.js";
import { RateLimitedWorkQueue } from "../src/queue/rate-limited-work-queue.js";
import { WorkQueue } from "../src/queue/work-queue.js";
import { defaultControllerRateLimiter } from "../src/queue/default-rate-limiter.js";
import { BareRing } from "./bare-ring.js";
import { int, rate, ratio, table } from "./format.js";
import { targetRow, type SuiteContext, type SuiteReport } from "./results.js";
import { median, seededRandom } from "./stats.js";

type Workload = "burst" | "interleaved" | "dup50";
const WORKLOADS: Workload[] = ["burst", "interleaved", "dup50"];

/** One queue under test: each workload returns how many keys it handed out (checked). */
interface Impl {
  name: string;
  keys: "handles" | "strings";
  /** Whether it coalesces duplicate adds (the others hand a duplicate out twice). */
  dedup: boolean;
  role: string;
  /** A task queue shown for context only: run once, burst and interleaved only. */
  context?: boolean;
  async: boolean;
  run: Record<Workload, () => number | Promise<number>>;
}

interface Inputs {
  n: number;
  /** 2n adds: every handle 0..n-1 twice, shuffled. */
  dupHandles: Int32Array;
  keys: string[];
  dupKeys: string[];
}

function inputs(n: number): Inputs {
  const dupHandles = new Int32Array(2 * n);
  for (let i = 0; i < 2 * n; i++) dupHandles[i] = i % n;
  const random = seededRandom(6);
  for (let i = dupHandles.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = dupHandles[i];
    dupHandles[i] = dupHandles[j];
    dupHandles[j] = t;
  }
  const keys = Array.from({ length: n }, (_, i) => `Device/dev-${String(i).padStart(7, "0")}`);
  const dupKeys = Array.from(dupHandles, (h) => keys[h]);
  return { n, dupHandles, keys, dupKeys };
}

function bareRing({ n, dupHandles }: Inputs): Impl {
  const q = new BareRing(n);
  const drain = () => {
    let c = 0;
    for (let h = q.get(); h >= 0; h = q.get()) {
      q.done(h);
      c++;
    }
    return c;
  };
  return {
    name: "bare Int32Array ring + Uint8Array flags",
    keys: "handles",
    dedup: true,
    role: "baseline (written in bench/)",
    async: false,
    run: {
      burst: () => {
        for (let i = 0; i < n; i++) q.add(i);
        return drain();
      },
      interleaved: () => {
        let c = 0;
        for (let i = 0; i < n; i++) {
          q.add(i);
          q.done(q.get());
          c++;
        }
        return c;
      },
      dup50: () => {
        for (let i = 0; i < dupHandles.length; i++) q.add(dupHandles[i]);
        return drain();
      },
    },
  };
}

function plainDenque({ n, dupHandles }: Inputs): Impl {
  const q = new Denque<number>();
  const drain = () => {
    let c = 0;
    while (q.length !== 0) {
      q.shift();
      c++;
    }
    return c;
  };
  return {
    name: "plain denque push/shift, integer keys (the handles)",
    keys: "handles",
    dedup: false,
    role: "baseline (no dedup)",
    async: false,
    run: {
      burst: () => {
        for (let i = 0; i < n; i++) q.push(i);
        return drain();
      },
      interleaved: () => {
        let c = 0;
        for (let i = 0; i < n; i++) {
          q.push(i);
          q.shift();
          c++;
        }
        return c;
      },
      dup50: () => {
        for (let i = 0; i < dupHandles.length; i++) q.push(dupHandles[i]);
        return drain();
      },
    },
  };
}

function plainDenqueStrings({ n, keys, dupKeys }: Inputs): Impl {
  const q = new Denque<string>();
  const drain = () => {
    let c = 0;
    while (q.length !== 0) {
      q.shift();
      c++;
    }
    return c;
  };
  return {
    name: "plain denque push/shift, string keys",
    keys: "strings",
    dedup: false,
    role: "context (no dedup)",
    async: false,
    run: {
      burst: () => {
        for (let i = 0; i < n; i++) q.push(keys[i]);
        return drain();
      },
      interleaved: () => {
        let c = 0;
        for (let i = 0; i < n; i++) {
          q.push(keys[i]);
          q.shift();
          c++;
        }
        return c;
      },
      dup50: () => {
        for (let i = 0; i < dupKeys.length; i++) q.push(dupKeys[i]);
        return drain();
      },
    },
  };
}

function denqueSet({ n, keys, dupKeys }: Inputs): Impl {
  const q = new Denque<string>();
  const queued = new Set<string>();
  const add = (k: string) => {
    if (!queued.has(k)) {
      queued.add(k);
      q.push(k);
    }
  };
  const drain = () => {
    let c = 0;
    while (q.length !== 0) {
      queued.delete(q.shift() as string);
      c++;
    }
    return c;
  };
  return {
    name: "denque + Set<string> dedup (queued set only)",
    keys: "strings",
    dedup: true,
    role: "baseline (TARGET's)",
    async: false,
    run: {
      burst: () => {
        for (let i = 0; i < n; i++) add(keys[i]);
        return drain();
      },
      interleaved: () => {
        let c = 0;
        for (let i = 0; i < n; i++) {
          add(keys[i]);
          queued.delete(q.shift() as string);
          c++;
        }
        return c;
      },
      dup50: () => {
        for (let i = 0; i < dupKeys.length; i++) add(dupKeys[i]);
        return drain();
      },
    },
  };
}

/** client-go's queue.go algorithm on denque + two Sets: the same semantics as WorkQueue (context). */
function denqueClientGo({ n, keys, dupKeys }: Inputs): Impl {
  const q = new Denque<string>();
  const dirty = new Set<string>();
  const processing = new Set<string>();
  const add = (k: string) => {
    if (dirty.has(k)) return;
    dirty.add(k);
    if (processing.has(k)) return;
    q.push(k);
  };
  const get = () => {
    const k = q.shift() as string;
    processing.add(k);
    dirty.delete(k);
    return k;
  };
  const done = (k: string) => {
    processing.delete(k);
    if (dirty.has(k)) q.push(k);
  };
  const drain = () => {
    let c = 0;
    while (q.length !== 0) {
      done(get());
      c++;
    }
    return c;
  };
  return {
    name: "denque + dirty/processing Sets (client-go's algorithm)",
    keys: "strings",
    dedup: true,
    role: "context (same semantics as WorkQueue)",
    async: false,
    run: {
      burst: () => {
        for (let i = 0; i < n; i++) add(keys[i]);
        return drain();
      },
      interleaved: () => {
        let c = 0;
        for (let i = 0; i < n; i++) {
          add(keys[i]);
          done(get());
          c++;
        }
        return c;
      },
      dup50: () => {
        for (let i = 0; i < dupKeys.length; i++) add(dupKeys[i]);
        return drain();
      },
    },
  };
}

function fastQueue({ n, dupHandles }: Inputs): Impl {
  let c = 0;
  // fastq's usual form: an async worker (a synchronous callback recurses per item and overflows the stack at 100k).
  const q = fastq.promise(async (_h: number): Promise<void> => {
    c++;
  }, 1);
  const drained = () => (q.idle() ? Promise.resolve() : new Promise<void>((resolve) => (q.drain = resolve)));
  return {
    name: "fastq.promise (concurrency 1, async worker)",
    keys: "handles",
    dedup: false,
    role: "context (no dedup)",
    context: true,
    async: true,
    run: {
      burst: async () => {
        c = 0;
        q.pause();
        for (let i = 0; i < n; i++) q.push(i);
        q.resume();
        await drained();
        return c;
      },
      interleaved: async () => {
        c = 0;
        for (let i = 0; i < n; i++) await q.push(i);
        return c;
      },
      dup50: async () => {
        c = 0;
        q.pause();
        for (let i = 0; i < dupHandles.length; i++) q.push(dupHandles[i]);
        q.resume();
        await drained();
        return c;
      },
    },
  };
}

function pQueue({ n, dupHandles }: Inputs): Impl {
  let c = 0;
  const q = new PQueue({ concurrency: 1 });
  const task = () => {
    c++;
  };
  return {
    name: "p-queue (concurrency 1)",
    keys: "handles",
    dedup: false,
    role: "context (no dedup)",
    context: true,
    async: true,
    run: {
      burst: async () => {
        c = 0;
        q.pause();
        for (let i = 0; i < n; i++) void q.add(task);
        q.start();
        await q.onIdle();
        return c;
      },
      interleaved: async () => {
        c = 0;
        for (let i = 0; i < n; i++) await q.add(task);
        return c;
      },
      dup50: async () => {
        c = 0;
        q.pause();
        for (let i = 0; i < dupHandles.length; i++) void q.add(task);
        q.start();
        await q.onIdle();
        return c;
      },
    },
  };
}

function handleQueue({ n, dupHandles }: Inputs): Impl {
  const q = new HandleQueue();
  const drain = () => {
    let c = 0;
    for (let h = q.tryGet(); h >= 0; h = q.tryGet()) {
      q.done(h);
      c++;
    }
    return c;
  };
  return {
    name: "HandleQueue add/tryGet/done",
    keys: "handles",
    dedup: true,
    role: "converge",
    async: false,
    run: {
      burst: () => {
        for (let i = 0; i < n; i++) q.add(i);
        return drain();
      },
      interleaved: () => {
        let c = 0;
        for (let i = 0; i < n; i++) {
          q.add(i);
          q.done(q.tryGet());
          c++;
        }
        return c;
      },
      dup50: () => {
        for (let i = 0; i < dupHandles.length; i++) q.add(dupHandles[i]);
        return drain();
      },
    },
  };
}

/** The `*Handle` API of a WorkQueue whose keys were interned up front (handle i is keys[i]). */
function workQueueHandles(name: string, role: string, q: WorkQueue<string>, { n, keys, dupHandles }: Inputs): Impl {
  for (let i = 0; i < n; i++) {
    if (q.handleOf(keys[i]) !== i) throw new Error(`${name}: expected dense handles in first-seen order`);
  }
  const drain = () => {
    let c = 0;
    for (let h = q.tryGetHandle(); h >= 0; h = q.tryGetHandle()) {
      q.doneHandle(h);
      c++;
    }
    return c;
  };
  return {
    name,
    keys: "handles",
    dedup: true,
    role,
    async: false,
    run: {
      burst: () => {
        for (let i = 0; i < n; i++) q.addHandle(i);
        return drain();
      },
      interleaved: () => {
        let c = 0;
        for (let i = 0; i < n; i++) {
          q.addHandle(i);
          q.doneHandle(q.tryGetHandle());
          c++;
        }
        return c;
      },
      dup50: () => {
        for (let i = 0; i < dupHandles.length; i++) q.addHandle(dupHandles[i]);
        return drain();
      },
    },
  };
}

/**
 * `workQueueHandles` again, for the controller's queue. A copy on purpose:
 * closures made from one function literal share V8's type feedback, so one
 * factory for both the WorkQueue and the RateLimitedWorkQueue rows made these
 * loops' call sites polymorphic, which the controller's own dispatch loop (it
 * only ever holds a RateLimitedWorkQueue) never is. The library's methods are
 * still shared by both classes, as in an application that uses both.
 */
function controllerQueueHandles(name: string, role: string, q: RateLimitedWorkQueue<string>, { n, keys, dupHandles }: Inputs): Impl {
  for (let i = 0; i < n; i++) {
    if (q.handleOf(keys[i]) !== i) throw new Error(`${name}: expected dense handles in first-seen order`);
  }
  const drain = () => {
    let c = 0;
    for (let h = q.tryGetHandle(); h >= 0; h = q.tryGetHandle()) {
      q.doneHandle(h);
      c++;
    }
    return c;
  };
  return {
    name,
    keys: "handles",
    dedup: true,
    role,
    async: false,
    run: {
      burst: () => {
        for (let i = 0; i < n; i++) q.addHandle(i);
        return drain();
      },
      interleaved: () => {
        let c = 0;
        for (let i = 0; i < n; i++) {
          q.addHandle(i);
          q.doneHandle(q.tryGetHandle());
          c++;
        }
        return c;
      },
      dup50: () => {
        for (let i = 0; i < dupHandles.length; i++) q.addHandle(dupHandles[i]);
        return drain();
      },
    },
  };
}

/** The string API as a user writes it: `add(k)`, `const k = await q.get()`, `done(k)`. */
function workQueueStrings(name: string, role: string, q: WorkQueue<string>, { n, keys, dupKeys }: Inputs): Impl {
  const drain = async () => {
    let c = 0;
    while (q.len() !== 0) {
      const k = (await q.get()) as string;
      q.done(k);
      c++;
    }
    return c;
  };
  return {
    name,
    keys: "strings",
    dedup: true,
    role,
    async: true,
    run: {
      burst: async () => {
        for (let i = 0; i < n; i++) q.add(keys[i]);
        return drain();
      },
      interleaved: async () => {
        let c = 0;
        for (let i = 0; i < n; i++) {
          q.add(keys[i]);
          q.done((await q.get()) as string);
          c++;
        }
        return c;
      },
      dup50: async () => {
        for (let i = 0; i < dupKeys.length; i++) q.add(dupKeys[i]);
        return drain();
      },
    },
  };
}

/** The string API without the await: `add(k)`, `tryGetHandle` + `keyOf`, `done(k)` (context: what the promise costs). */
function workQueueStringsSync(name: string, q: WorkQueue<string>, { n, keys, dupKeys }: Inputs): Impl {
  const drain = () => {
    let c = 0;
    for (let h = q.tryGetHandle(); h >= 0; h = q.tryGetHandle()) {
      q.done(q.keyOf(h));
      c++;
    }
    return c;
  };
  return {
    name,
    keys: "strings",
    dedup: true,
    role: "context",
    async: false,
    run: {
      burst: () => {
        for (let i = 0; i < n; i++) q.add(keys[i]);
        return drain();
      },
      interleaved: () => {
        let c = 0;
        for (let i = 0; i < n; i++) {
          q.add(keys[i]);
          q.done(q.keyOf(q.tryGetHandle()));
          c++;
        }
        return c;
      },
      dup50: () => {
        for (let i = 0; i < dupKeys.length; i++) q.add(dupKeys[i]);
        return drain();
      },
    },
  };
}

// Row names the targets read.
const BARE = "bare";
const DENQUE = "denque";
const DENQUE_SET = "denqueSet";
const CONTROLLER_HANDLES = "rlwqHandles";
const USER_STRINGS = "wqStrings";

function impls(input: Inputs): [string, Impl][] {
  return [
    [BARE, bareRing(input)],
    [DENQUE, plainDenque(input)],
    ["denqueStrings", plainDenqueStrings(input)],
    [DENQUE_SET, denqueSet(input)],
    ["denqueClientGo", denqueClientGo(input)],
    ["fastq", fastQueue(input)],
    ["pqueue", pQueue(input)],
    ["handleQueue", handleQueue(input)],
    ["wqHandles", workQueueHandles("WorkQueue addHandle/tryGetHandle/doneHandle (retainKeys)", "converge", new WorkQueue<string>({ retainKeys: true }), input)],
    [
      CONTROLLER_HANDLES,
      controllerQueueHandles(
        "RateLimitedWorkQueue handle API, built as the controller does",
        "converge: the controller's hot path (TARGET row)",
        new RateLimitedWorkQueue<string>(defaultControllerRateLimiter<string>(), { retainKeys: true }),
        input,
      ),
    ],
    [USER_STRINGS, workQueueStrings("WorkQueue<string> add / await get / done, default options", "converge: the string API as a user writes it (TARGET row)", new WorkQueue<string>(), input)],
    ["wqStringsRetain", workQueueStrings("WorkQueue<string> add / await get / done, retainKeys: true", "converge", new WorkQueue<string>({ retainKeys: true }), input)],
    ["wqStringsSync", workQueueStringsSync("WorkQueue<string> add / tryGetHandle+keyOf / done (no await), default", new WorkQueue<string>(), input)],
  ];
}

/** ops per workload iteration: keys cycled (burst, interleaved) or adds made (dup50). */
function opsOf(workload: Workload, n: number): number {
  return workload === "dup50" ? 2 * n : n;
}

function expectedCount(workload: Workload, impl: Impl, n: number): number {
  return workload === "dup50" && !impl.dedup ? 2 * n : n;
}

/** Runs `list` on `workload` once with tinybench; median ops/s per id. */
async function benchOnce(
  workload: Workload,
  list: [string, Impl][],
  n: number,
  options: { time: number; iterations: number; warmup: boolean; warmupTime: number },
): Promise<Record<string, number>> {
  const bench = new Bench({
    name: `queue ${workload}`,
    time: options.time,
    iterations: options.iterations,
    warmup: options.warmup,
    warmupTime: options.warmup ? options.warmupTime : 0,
    warmupIterations: 2,
    throws: true,
  });
  const last = new Map<string, number>();
  for (const [id, impl] of list) {
    const fn = impl.run[workload];
    const opts = {
      async: impl.async,
      // Start every queue from a collected heap so one's garbage is not another's GC pause.
      beforeAll: () => (globalThis as { gc?: () => void }).gc?.(),
    };
    if (impl.async) bench.add(id, async () => void last.set(id, await fn()), opts);
    else bench.add(id, () => void last.set(id, fn() as number), opts);
  }
  await bench.run();
  const rates: Record<string, number> = {};
  for (const [id, impl] of list) {
    const result = bench.getTask(id)?.result;
    if (!result || (result.state !== "completed" && result.state !== "aborted-with-statistics")) {
      throw new Error(`queue ${workload} ${id}: benchmark did not complete (${result?.state})`);
    }
    const want = expectedCount(workload, impl, n);
    if (last.get(id) !== want) throw new Error(`queue ${workload} ${id}: handed out ${last.get(id)} keys, expected ${want}`);
    rates[id] = (opsOf(workload, n) * 1000) / result.latency.p50;
  }
  return rates;
}


export async function queueSuite(ctx: SuiteContext): Promise<SuiteReport> {
  // Quick is a smoke run (npm test runs it on every runtime): seconds, not figures.
  const n = ctx.quick ? 50_000 : 1_000_000;
  // The machine is shared: a round runs every queue back to back, and ratios are taken within a
  // round (then the median over rounds), so a noisy stretch hits a queue and its baseline alike.
  const rounds = ctx.quick ? 1 : 3;
  const timePerTask = ctx.quick ? 10 : 250;
  const warmupTime = ctx.quick ? 20 : 200;
  const minIterations = 2;
  ctx.log(`queue: ${int(n)} keys, ${rounds} rounds; per round and queue >= ${minIterations} iterations and >= ${timePerTask} ms`);
  const input = inputs(n);
  const all = impls(input);
  const timed = all.filter(([, impl]) => !impl.context);
  const context = all.filter(([, impl]) => impl.context);
  const perRound: Record<Workload, Record<string, number>[]> = { burst: [], interleaved: [], dup50: [] };
  for (let round = 0; round < rounds; round++) {
    for (const workload of WORKLOADS) {
      const r = await benchOnce(workload, timed, n, { time: timePerTask, iterations: minIterations, warmup: round === 0, warmupTime });
      perRound[workload].push(r);
      ctx.log(`queue round ${round + 1} ${workload}: ${timed.map(([id]) => `${id} ${rate(r[id])}`).join(", ")}`);
    }
  }
  // rates[workload][id] = median over rounds of the round's median ops/s.
  const rates: Record<Workload, Record<string, number>> = { burst: {}, interleaved: {}, dup50: {} };
  for (const workload of WORKLOADS) {
    for (const [id] of timed) rates[workload][id] = median(perRound[workload].map((r) => r[id]));
  }
  // Task queues without dedup, for context: one warmup and one timed iteration, no dup50 (it is a longer burst for them).
  for (const workload of ["burst", "interleaved"] as const) {
    const r = await benchOnce(workload, context, n, { time: 0, iterations: 1, warmup: true, warmupTime });
    Object.assign(rates[workload], r);
    ctx.log(`queue context ${workload}: ${context.map(([id]) => `${id} ${rate(r[id])}`).join(", ")}`);
  }
  const roundRatio = (a: string, b: string) => median(perRound.burst.map((r) => r[a] / r[b]));

  const targets = [
    targetRow("queue.handles_vs_bare_ring", roundRatio(CONTROLLER_HANDLES, BARE), 0.6, "higher", "x"),
    targetRow("queue.strings_vs_denque_set", roundRatio(USER_STRINGS, DENQUE_SET), 3, "higher", "x"),
  ];
  const cell = (workload: Workload, id: string) => (rates[workload][id] === undefined ? "—" : rate(rates[workload][id]));
  const rows = all.map(([id, impl]) => [
    impl.name,
    impl.keys,
    impl.role,
    cell("burst", id),
    cell("interleaved", id),
    cell("dup50", id),
    impl.context ? ratio(rates.burst[id] / rates.burst[DENQUE]) : ratio(roundRatio(id, DENQUE)),
    impl.context ? ratio(rates.burst[id] / rates.burst[DENQUE_SET]) : ratio(roundRatio(id, DENQUE_SET)),
  ]);
  const markdown = [
    `${int(n)} distinct keys (\`Device/dev-0000000\`… as strings; 0..n-1 as handles), timed with tinybench. ` +
      `The machine is shared, so the suite runs ${rounds} rounds; in each round every queue runs every workload back to back ` +
      `(>= ${minIterations} iterations and >= ${timePerTask} ms each, after a warmup in the first round) and gives its median iteration. ` +
      `Rates below are the median over rounds; ratios (and the targets) are the median over rounds of the ratio within a round. ` +
      `One iteration processes every key once.`,
    "",
    "- **burst**: add all n keys, then get+done until empty — keys/s.",
    "- **interleaved**: for each key add, get, done — keys/s.",
    "- **dup50**: 2n adds, every key twice in shuffled order (50% duplicates, coalesced while queued), then get+done until empty — adds/s. Queues without dedup hand out all 2n.",
    "",
    "Each queue instance is reused across iterations, so the `retainKeys` and controller rows measure re-adds of known keys (the informer's steady state); " +
      "the default WorkQueue releases keys that went idle (in bulk, once at least half the interned keys wait idle) and interns them again on the next add.",
    "",
    table(["queue", "keys", "role", "burst", "interleaved", "dup50", "burst vs denque", "burst vs denque+Set"], rows, ["l", "l", "l", "r", "r", "r", "r", "r"]),
    "",
    `Target rows: \`queue.handles_vs_bare_ring\` uses **RateLimitedWorkQueue's handle API built as the controller builds it** ` +
      `(\`new RateLimitedWorkQueue(defaultControllerRateLimiter(), { retainKeys: true })\`, addHandle/tryGetHandle/doneHandle) on the burst workload; ` +
      `\`queue.strings_vs_denque_set\` uses **\`new WorkQueue<string>()\` (default options) as a user writes it** — \`add(k)\`, \`const k = await q.get()\`, \`done(k)\` — on the burst workload. ` +
      `fastq (async worker, its usual form) and p-queue are task queues without dedup, shown for context only: timed once (one warmup, one iteration), on burst and interleaved.`,
    "",
    `For reference in this run (burst, median of per-round ratios): the bare ring is ${ratio(roundRatio(BARE, DENQUE))} plain denque, ` +
      `the controller's handle queue ${ratio(roundRatio(CONTROLLER_HANDLES, DENQUE))} plain denque (a retired target: a dedup queue against integer denque without dedup); ` +
      `HandleQueue alone is ${ratio(roundRatio("handleQueue", BARE))} the bare ring and ${ratio(roundRatio("handleQueue", DENQUE))} plain denque. ` +
      `Against client-go's algorithm on denque + two Sets (the same semantics as WorkQueue), the string API as a user writes it is ${ratio(roundRatio(USER_STRINGS, "denqueClientGo"))}. ` +
      `All queues share one process, as they would in an application: WorkQueue's methods see both WorkQueue and RateLimitedWorkQueue instances (polymorphic call sites inside the library). ` +
      `Each row's loop is its own function literal, as each application's loop would be: closures of one literal share V8's type feedback, which would make a loop that only ever sees one queue class polymorphic.`,
  ].join("\n");

  return {
    name: "queue",
    markdown,
    targets,
    summary: targets.map((t) => `${t.name} = ${t.value}${t.unit} (target ${t.better === "higher" ? ">=" : "<="} ${t.target}) ${t.met ? "met" : "MISSED"}`),
    data: { keys: n, rounds, ratesPerSecond: rates, perRound, names: Object.fromEntries(all.map(([id, impl]) => [id, impl.name])) },
  };
}
