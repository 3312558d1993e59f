import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { int, table } from "./format.js";
import type { MemoryMeasurement, MemoryVariant } from "./memory-child.js";
import { targetRow, type SuiteContext, type SuiteReport } from "./results.js";
import { benchCommand, type RuntimeName } from "./runtime.js";

const run = promisify(execFile);

const LABELS: Record<MemoryVariant, string> = {
  queue: "controller queue path: intern `Device/<uid>` + addHandle (TARGET row)",
  denqueSet: "denque + Set of `Device/<uid>` strings (baseline)",
  uids: "the uid strings themselves (owned by storage, not counted above)",
};

async function measure(runtime: RuntimeName, variant: MemoryVariant, keys: number): Promise<MemoryMeasurement> {
  // The same runtime as the suite, with its gc exposed (Node --expose-gc, Deno --v8-flags=--expose-gc, Bun.gc).
  const { command, args } = benchCommand(runtime, "memory-child", [variant, String(keys)]);
  const { stdout } = await run(command, args, { maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split("\n").pop()!) as MemoryMeasurement;
}

export async function memorySuite(ctx: SuiteContext): Promise<SuiteReport> {
  const keys = ctx.quick ? 100_000 : 1_000_000;
  ctx.log(`memory: ${int(keys)} queued keys, one child process per measurement`);
  const results: MemoryMeasurement[] = [];
  for (const variant of ["queue", "denqueSet", "uids"] as const) {
    const m = await measure(ctx.runtime, variant, keys);
    results.push(m);
    ctx.log(`memory ${variant}: ${m.bytesPerKey.toFixed(1)} bytes/key`);
  }
  const queue = results.find((r) => r.variant === "queue")!;
  const targets = [targetRow("memory.bytes_per_queued_key", queue.bytesPerKey, 150, "lower", "bytes")];
  const markdown = [
    `${int(keys)} distinct keys queued, each measured in its own child process of the same runtime with its gc exposed (\`bench/memory-child.ts\`): ` +
      "`gc()` three times, `process.memoryUsage()` (heapUsed + external, so typed arrays count; Bun's heapUsed already holds external, so it is counted once), build, `gc()` again, difference / keys. " +
      "The uid strings (`dev-0000000`…) are created before the first snapshot: storage and the informer hold them anyway. " +
      "The queue is `new RateLimitedWorkQueue(defaultControllerRateLimiter(), { retainKeys: true })`, as the controller builds it, " +
      "and each key goes in as ``queue.addHandle(queue.handleOf(`${kind}/${uid}`))``, as `Controller#add` does. " +
      "The controller's own per-handle state (src/reconcile/handle-state.ts, internal and changing) is not included.",
    "",
    table(
      ["structure", "heap bytes", "external bytes", "bytes/key"],
      results.map((r) => [LABELS[r.variant], int(r.heapBytes), int(r.externalBytes), r.bytesPerKey.toFixed(1)]),
    ),
  ].join("\n");
  return {
    name: "memory",
    markdown,
    targets,
    summary: targets.map((t) => `${t.name} = ${t.value} ${t.unit} (target <= ${t.target}) ${t.met ? "met" : "MISSED"}`),
    data: { keys, measurements: results },
  };
}
