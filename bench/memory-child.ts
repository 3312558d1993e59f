// Run by the memory suite in a fresh process (its gc exposed), so nothing
// else lives on the heap: builds one structure for n keys and prints the
// bytes it added (heap + off-heap typed arrays) as one JSON line.
import Denque from "denque";
import { defaultControllerRateLimiter } from "../src/queue/default-rate-limiter.js";
import { RateLimitedWorkQueue } from "../src/queue/rate-limited-work-queue.js";
import { DEVICE_KIND, deviceUid } from "./device.js";
import { currentRuntime, installGc } from "./runtime.js";

export const MEMORY_VARIANTS = ["queue", "denqueSet", "uids"] as const;
export type MemoryVariant = (typeof MEMORY_VARIANTS)[number];

export interface MemoryMeasurement {
  variant: MemoryVariant;
  keys: number;
  heapBytes: number;
  externalBytes: number;
  bytesPerKey: number;
}

function gc(): void {
  installGc();
  const collect = (globalThis as { gc?: () => void }).gc;
  if (!collect) throw new Error("memory-child: run node with --expose-gc (deno: --v8-flags=--expose-gc)");
  for (let i = 0; i < 3; i++) collect();
}

function used(): { heap: number; external: number } {
  const m = process.memoryUsage();
  // Bun's heapUsed counts the external (typed array) bytes too.
  return { heap: currentRuntime() === "bun" ? m.heapUsed - m.external : m.heapUsed, external: m.external };
}

function build(variant: MemoryVariant, uids: string[]): unknown {
  const n = uids.length;
  switch (variant) {
    case "uids":
      return Array.from({ length: n }, (_, i) => deviceUid(i));
    case "queue": {
      // The controller's queue path: RateLimitedWorkQueue as the controller builds it, intern `kind/uid`, add.
      const queue = new RateLimitedWorkQueue<string>(defaultControllerRateLimiter<string>(), { retainKeys: true });
      for (let i = 0; i < n; i++) queue.addHandle(queue.handleOf(`${DEVICE_KIND}/${uids[i]}`));
      if (queue.len() !== n) throw new Error("memory-child: queue lost keys");
      return queue;
    }
    case "denqueSet": {
      const queue = new Denque<string>();
      const queued = new Set<string>();
      for (let i = 0; i < n; i++) {
        const k = `${DEVICE_KIND}/${uids[i]}`;
        if (!queued.has(k)) {
          queued.add(k);
          queue.push(k);
        }
      }
      return [queue, queued];
    }
  }
}

function main(): void {
  const variant = process.argv[2] as MemoryVariant;
  const n = Number(process.argv[3]);
  if (!MEMORY_VARIANTS.includes(variant) || !Number.isInteger(n) || n < 1) {
    throw new Error(`usage: memory-child.js ${MEMORY_VARIANTS.join("|")} KEYS`);
  }
  // The uids exist before the queue sees them (storage/informer owns them): not counted, except by "uids".
  const uids = variant === "uids" ? [] : Array.from({ length: n }, (_, i) => deviceUid(i));
  gc();
  const before = used();
  const built = build(variant, variant === "uids" ? new Array<string>(n) : uids);
  gc();
  const after = used();
  const heapBytes = after.heap - before.heap;
  const externalBytes = after.external - before.external;
  const result: MemoryMeasurement = { variant, keys: n, heapBytes, externalBytes, bytesPerKey: (heapBytes + externalBytes) / n };
  // Touch both after measuring so neither is collected early.
  if (built === undefined || uids.length < 0) throw new Error("unreachable");
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main();
