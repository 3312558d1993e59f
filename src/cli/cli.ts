import { availableParallelism } from "node:os";
import { APPLY_USAGE, runApply } from "./cli-apply.js";
import { DELETE_USAGE, runDelete } from "./cli-delete.js";
import { GET_USAGE, runGet } from "./cli-get.js";
import { processIO, type CliIO } from "./cli-io.js";
import { LIST_USAGE, runList } from "./cli-list.js";
import { runStatus, STATUS_USAGE } from "./cli-status.js";
import { TARGET_USAGE } from "./cli-target.js";
import { runDemoController } from "./demo-controller.js";
import { runWatch, WATCH_USAGE } from "./cli-watch.js";
import { runDemo } from "./demo.js";
import { parseDemoArgs } from "./demo-options.js";
import { demoSucceeded, formatDemoSummary } from "./demo-summary.js";
import { UsageError } from "./usage-error.js";
import { ValidationError } from "../codec/errors.js";

/** Exit statuses of `converge`. */
export const EXIT_OK = 0;
/** The command ran and did not succeed (a demo with devices left unconverged), or failed. */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
/** Stopped by Ctrl-C (128 + SIGINT), after printing what it did. */
export const EXIT_INTERRUPTED = 130;
/** Stopped by SIGTERM (128 + 15) before it finished, after printing what it did. */
export const EXIT_TERMINATED = 143;

/** The exit status of a run stopped by `signal` (its abort reason names the signal) that did not succeed. */
export function interruptedExit(signal: AbortSignal | undefined): number {
  return signal?.reason === "SIGTERM" ? EXIT_TERMINATED : EXIT_INTERRUPTED;
}

export interface CliOptions {
  /** Ends a running command early (Ctrl-C); it still reports what it did. */
  signal?: AbortSignal;
}

const USAGE = `Usage: converge <command> [flags]

Commands:
  demo                  drive a fleet of simulated devices to their desired state and print a summary
  list <kind>           the resources of a kind: uid, generation, Ready, reason, age
  get <kind> <uid>      one resource: spec, status, conditions
  watch <kind>          one line per change, until Ctrl-C
  apply -f FILE|-       create resources or update their spec (compare-and-swap)
  delete <kind> <uid>   delete a resource (finalizers honoured)
  status                the fleet at a glance: per kind, Ready and not ready by reason
  help [command]        show this help, or a command's

${TARGET_USAGE}`;

/** Each operator command's own help, after which the connection flags are listed. */
const COMMAND_USAGE: Record<string, string> = {
  list: LIST_USAGE,
  get: GET_USAGE,
  watch: WATCH_USAGE,
  apply: APPLY_USAGE,
  delete: DELETE_USAGE,
  status: STATUS_USAGE,
};

const COMMANDS = ["demo", ...Object.keys(COMMAND_USAGE), "help"];

function demoUsage(): string {
  return `Usage: converge demo [flags]

Creates simulated devices (kind Device, desired "running", actual "stopped") in
in-memory storage and lets a reconciler drive each one to its desired state,
failing on purpose now and then. Once a device converges, some get their desired
state flipped to "stopped" and must converge again. Prints live progress, then a
summary with latencies from a desired state being set to it being reached.

Flags:
  --devices N       devices to create, 1..1000000 (default 10000)
  --fail-rate P     probability 0..1 that acting on a device fails; it is retried with backoff (default 0.05)
  --isolation MODE  worker: reconcile in worker threads; inline: on the main thread (default worker)
  --workers N       worker threads, or concurrent batches inline (default: the CPU count, ${availableParallelism()})
  --timeout S       give up after S seconds (default 300)
  --changes F       fraction 0..1 of devices whose desired state is flipped once after converging (default 0.1)
  --nats URL        run on NATS JetStream + KV at URL (comma-separated for several) instead of in memory;
                    the demo owns KV bucket converge_demo and stream CONVERGE_DEMO and resets them
  --controllers N   with --nats: N controller processes share the fleet through KvSharding leases
                    (each process's share and every hand-over are printed; a process that dies is
                    replaced and its share taken over)
  --metrics-port N  serve Prometheus /metrics, /metrics.json, /healthz and /readyz on 127.0.0.1:N while running
  -q, --quiet       no live progress, only the summary
  -h, --help        show this help

Exit status: 0 when every device converged, 1 when some did not, 2 on a usage error,
130 when interrupted by Ctrl-C, 143 by SIGTERM (both drain and still print the summary;
0 if everything had converged by then).
`;
}

/**
 * The `converge` command: `args` are the arguments after the program name.
 * Resolves with the exit status; never calls process.exit, so a handle left
 * open would show as a process that does not end.
 */
export async function runCli(args: readonly string[], io: CliIO = processIO(), options: CliOptions = {}): Promise<number> {
  const [command, ...rest] = args;
  try {
    switch (command) {
      case "demo":
        return await demo(rest, io, options);
      // Not listed: one of `demo --controllers N`'s processes.
      case "demo-controller":
        return await runDemoController(rest, io, options.signal);
      case "list":
        return await runList(rest, io);
      case "get":
        return await runGet(rest, io);
      case "watch":
        return await runWatch(rest, io, options.signal);
      case "apply":
        return await runApply(rest, io);
      case "delete":
        return await runDelete(rest, io);
      case "status":
        return await runStatus(rest, io, options.signal);
      case "help":
      case "--help":
      case "-h": {
        const topic = command === "help" ? rest[0] : undefined;
        if (topic === "demo") io.stdout.write(demoUsage());
        else if (topic !== undefined && COMMAND_USAGE[topic] !== undefined) io.stdout.write(`${COMMAND_USAGE[topic]}\n${TARGET_USAGE}`);
        else io.stdout.write(USAGE);
        return EXIT_OK;
      }
      case undefined:
        throw new UsageError(undefined, "a command is required");
      default:
        throw new UsageError(undefined, `unknown command ${JSON.stringify(command)}; the commands are: ${COMMANDS.join(", ")}`);
    }
  } catch (error) {
    if (error instanceof UsageError || error instanceof ValidationError) {
      const known = command !== undefined && COMMANDS.includes(command) && command !== "help";
      const help = known ? `converge ${command} --help` : "converge help";
      io.stderr.write(`converge${known ? ` ${command}` : ""}: ${error.message}\nRun \`${help}\` for usage.\n`);
      return EXIT_USAGE;
    }
    // One line: what failed, no stack (TargetError, a storage error, a NATS failure).
    const message = error instanceof Error ? error.message : String(error);
    io.stderr.write(`converge ${command}: ${message.split("\n")[0]}\n`);
    return EXIT_FAILURE;
  }
}

async function demo(args: readonly string[], io: CliIO, options: CliOptions): Promise<number> {
  const parsed = parseDemoArgs(args);
  if (parsed.help) {
    io.stdout.write(demoUsage());
    return EXIT_OK;
  }
  const summary = await runDemo({ ...parsed.options, signal: options.signal }, io);
  io.stdout.write(formatDemoSummary(summary, parsed.options.timeoutMs));
  if (demoSucceeded(summary)) return EXIT_OK;
  return summary.outcome === "interrupted" ? interruptedExit(options.signal) : EXIT_FAILURE;
}
