// `converge demo-controller`: one of `converge demo --controllers N`'s processes.
// It joins the demo's NATS bucket and stream, takes a fair share of the fleet
// through KvSharding, reconciles its share, and reports one JSON line of its
// state every 250 ms on stdout for the demo to show. SIGTERM/SIGINT hands its
// partitions over and exits 0.
import { parseArgs } from "node:util";
import * as v from "valibot";
import { KvSharding } from "../cluster/kv-sharding.js";
import { Controller } from "../reconcile/controller.js";
import { silentLogger } from "../reconcile/logger.js";
import type { CliIO } from "./cli-io.js";
import { DEMO_SHARDS, openDemoBackends } from "./demo-backends.js";
import { FAIL_RATE_ENV } from "./demo-device-reconciler.js";
import { demoReconcilerUrl } from "./demo-reconciler-url.js";
import { NATS_SERVERS, NATS_SERVERS_MESSAGE, fromParseArgsError } from "./demo-options.js";
import { UsageError } from "./usage-error.js";

/** What a demo controller process reports, one JSON line at a time. */
export interface DemoControllerReport {
  identity: string;
  owned: number;
  reconciles: number;
  retries: number;
  failed: number;
  timeouts: number;
  crashes: number;
  statusWrites: number;
  handoversIn: number;
  handoversOut: number;
}

/** Partitions of the demo fleet; leases short enough that a killed process's share moves within seconds. */
export const DEMO_PARTITIONS = 32;
export const DEMO_LEASE_MS = 3_000;
const REPORT_MS = 250;

const Flags = v.object({
  nats: v.pipe(v.string("--nats is required"), v.regex(NATS_SERVERS, NATS_SERVERS_MESSAGE)),
  identity: v.pipe(v.string("--identity is required"), v.regex(/^[A-Za-z0-9_-]{1,64}$/, "must be letters, digits, _ or -")),
  isolation: v.picklist(["worker", "inline"], 'must be "worker" or "inline"'),
  workers: v.pipe(v.number(), v.integer("must be a positive integer"), v.minValue(1, "must be a positive integer")),
  failRate: v.pipe(v.number(), v.minValue(0, "must be between 0 and 1"), v.maxValue(1, "must be between 0 and 1")),
});

export async function runDemoController(args: readonly string[], io: CliIO, signal: AbortSignal | undefined): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...args],
      strict: true,
      options: { nats: { type: "string" }, identity: { type: "string" }, isolation: { type: "string" }, workers: { type: "string" }, "fail-rate": { type: "string" } },
    }));
  } catch (error) {
    throw fromParseArgsError(error, "demo-controller takes flags only");
  }
  const parsed = v.safeParse(Flags, {
    nats: values.nats,
    identity: values.identity,
    isolation: values.isolation ?? "worker",
    workers: Number(values.workers ?? 1),
    failRate: Number(values["fail-rate"] ?? 0),
  });
  if (!parsed.success) {
    const issue = parsed.issues[0];
    throw new UsageError(`--${String(issue.path?.[0]?.key ?? "")}`, issue.message);
  }
  const flags = parsed.output;
  process.env[FAIL_RATE_ENV] = String(flags.failRate);
  const backends = await openDemoBackends(flags.nats, silentLogger, { reset: false });
  let controller: Controller | undefined;
  let report: ReturnType<typeof setInterval> | undefined;
  const write = () => {
    const stats = controller!.stats();
    const line: DemoControllerReport = {
      identity: flags.identity,
      owned: stats.sharding?.owned ?? 0,
      reconciles: stats.reconciles,
      retries: stats.failed + stats.timeouts + stats.crashes + stats.interrupted,
      failed: stats.failed,
      timeouts: stats.timeouts,
      crashes: stats.crashes,
      statusWrites: stats.statusWrites,
      handoversIn: stats.sharding?.handoversIn ?? 0,
      handoversOut: stats.sharding?.handoversOut ?? 0,
    };
    io.stdout.write(`${JSON.stringify(line)}\n`);
  };
  try {
    const sharding = await KvSharding.open(backends.connection!, {
      bucket: DEMO_SHARDS,
      identity: flags.identity,
      partitions: DEMO_PARTITIONS,
      leaseMs: DEMO_LEASE_MS,
      logger: silentLogger,
    });
    controller = new Controller(backends.bus, backends.storage, {
      isolation: flags.isolation,
      workers: flags.workers,
      logger: silentLogger,
      workerLogLevel: "silent",
      sharding,
    });
    await controller.registerReconciler(demoReconcilerUrl());
    await controller.start();
    write();
    report = setInterval(write, REPORT_MS);
    if (!signal?.aborted) await new Promise<void>((resolve) => signal?.addEventListener("abort", () => resolve(), { once: true }));
    return 0;
  } finally {
    clearInterval(report);
    // Hands every partition over: the others take them at once. The last line counts the drained reconciles.
    await controller?.stop();
    if (controller) write();
    await backends.close();
  }
}
