import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";
import * as v from "valibot";
import { ValidationError } from "../codec/errors.js";
import type { Isolation } from "../reconcile/controller.js";
import { redactUrls } from "../nats/redact.js";
import { UsageError } from "./usage-error.js";

export const MAX_DEVICES = 1_000_000;
/** More threads than this is a typo, not a plan. */
export const MAX_WORKERS = 1_024;
export const MAX_CONTROLLERS = 16;

export const MAX_TIMEOUT_MS = 86_400_000;

/** `--nats`: one or more servers, comma-separated; shared by every command that connects. */
export const NATS_SERVERS = /^((nats|tls):\/\/)?[^\s,/]+(:\d+)?(,((nats|tls):\/\/)?[^\s,/]+(:\d+)?)*$/;
export const NATS_SERVERS_MESSAGE = "must be nats://host:port (comma-separated for several)";
const TIMEOUT_MESSAGE = "must be more than 0 and at most one day (86400 s)";

/** What `converge demo` runs; `runDemo` takes the same (timeout in ms there, seconds on the command line). */
export interface DemoOptions {
  /** Devices created, 1..1,000,000. */
  devices: number;
  /** Probability in [0,1] that acting on a device fails (transiently: it is retried). */
  failRate: number;
  isolation: Isolation;
  /** Worker threads (worker isolation) or concurrent batches (inline). */
  workers: number;
  /** Gives up after this long; devices not converged by then make the run fail. */
  timeoutMs: number;
  /** Fraction in [0,1] of devices whose desired state is flipped once after they first converge. */
  changes: number;
  /** No live progress; only the summary (and errors). */
  quiet: boolean;
  /** NATS server URL(s), comma-separated: run on JetStream + KV instead of the in-memory default. */
  nats?: string;
  /** Serve /metrics, /metrics.json, /healthz and /readyz on this port (127.0.0.1) while the demo runs. */
  metricsPort?: number;
  /**
   * Controller processes sharing the fleet through KvSharding (needs `nats`).
   * 1: the controller runs in the demo's own process.
   */
  controllers: number;
  /** Ends the run early (Ctrl-C); the summary reports what converged by then. */
  signal?: AbortSignal;
}

export function defaultDemoOptions(): DemoOptions {
  return {
    devices: 10_000,
    failRate: 0.05,
    isolation: "worker",
    workers: availableParallelism(),
    timeoutMs: 300_000,
    changes: 0.1,
    quiet: false,
    controllers: 1,
  };
}

const positiveInteger = (max: number) => {
  const message = `must be a positive integer <= ${max.toLocaleString("en-US")}`;
  return v.pipe(v.number(message), v.integer(message), v.minValue(1, message), v.maxValue(max, message));
};

const fraction = (what: string) => {
  const message = `must be a ${what} between 0 and 1`;
  return v.pipe(v.number(message), v.minValue(0, message), v.maxValue(1, message));
};

// Strict: a misspelt option given to runDemo is an error, not silently the default.
const DemoOptionsSchema = v.strictObject(
  {
    devices: positiveInteger(MAX_DEVICES),
    failRate: fraction("probability"),
    isolation: v.picklist(["worker", "inline"], 'must be "worker" or "inline"'),
    workers: positiveInteger(MAX_WORKERS),
    // setTimeout fires at once for anything past 2^31-1 ms; a day is plenty for a demo.
    timeoutMs: v.pipe(v.number(TIMEOUT_MESSAGE), v.gtValue(0, TIMEOUT_MESSAGE), v.maxValue(MAX_TIMEOUT_MS, TIMEOUT_MESSAGE)),
    changes: fraction("fraction"),
    quiet: v.boolean("must be true or false"),
    controllers: positiveInteger(MAX_CONTROLLERS),
    metricsPort: v.optional(v.pipe(v.number("must be a port number"), v.integer("must be a port number"), v.minValue(0, "must be a port number 0..65535"), v.maxValue(65_535, "must be a port number 0..65535"))),
    nats: v.optional(
      v.pipe(
        v.string("must be a string"),
        v.regex(NATS_SERVERS, NATS_SERVERS_MESSAGE),
      ),
    ),
  },
  "is not a demo option",
);

type Field = keyof v.InferOutput<typeof DemoOptionsSchema>;

/** Each option's flag; the first issue names the flag, so a usage error says which one was wrong. */
const FLAGS: Record<Field, string> = {
  devices: "--devices",
  failRate: "--fail-rate",
  isolation: "--isolation",
  workers: "--workers",
  timeoutMs: "--timeout",
  changes: "--changes",
  quiet: "--quiet",
  nats: "--nats",
  metricsPort: "--metrics-port",
  controllers: "--controllers",
};

interface Invalid {
  field: Field;
  message: string;
}

function validate(options: DemoOptions): Invalid | undefined {
  const { signal: _signal, ...values } = options;
  const result = v.safeParse(DemoOptionsSchema, values);
  if (result.success) return undefined;
  const issue = result.issues[0];
  return { field: issue.path?.[0]?.key as Field, message: issue.message };
}

/**
 * Fills in defaults and validates `options` for `runDemo`.
 * @throws ValidationError naming the option, e.g. `options.devices`.
 */
export function resolveDemoOptions(options: Partial<DemoOptions> = {}): DemoOptions {
  const defined = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
  const resolved: DemoOptions = { ...defaultDemoOptions(), ...defined };
  const invalid = validate(resolved);
  if (invalid) {
    throw new ValidationError(`options.${invalid.field}`, `${invalid.message}, got ${show(resolved[invalid.field])}`);
  }
  if (resolved.controllers > 1 && resolved.nats === undefined) {
    throw new ValidationError("options.controllers", "more than one controller process needs options.nats: processes share the fleet through NATS");
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new ValidationError("options.signal", "must be an AbortSignal");
  }
  return resolved;
}

/** `converge demo --help`, or a run with these options. */
export type DemoCommand = { help: true } | { help: false; options: DemoOptions };

/**
 * Parses `converge demo`'s flags (everything after `demo`).
 * @throws UsageError naming the flag and what was wrong with it.
 */
export function parseDemoArgs(args: readonly string[]): DemoCommand {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: joinNegativeValues(args),
      strict: true,
      allowPositionals: false,
      options: {
        devices: { type: "string" },
        "fail-rate": { type: "string" },
        isolation: { type: "string" },
        workers: { type: "string" },
        timeout: { type: "string" },
        changes: { type: "string" },
        quiet: { type: "boolean", short: "q" },
        nats: { type: "string" },
        "metrics-port": { type: "string" },
        controllers: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    throw fromParseArgsError(error);
  }
  if (values.help === true) return { help: true };

  const options = defaultDemoOptions();
  // Each flag's value as the user typed it, for the error message.
  const raw: Partial<Record<Field, string>> = {};
  const number = (field: Field, scale = 1): number | undefined => {
    const text = values[FLAGS[field].slice(2)];
    if (typeof text !== "string") return undefined;
    raw[field] = text;
    if (!DECIMAL.test(text.trim())) throw new UsageError(FLAGS[field], `must be a number, got ${JSON.stringify(text)}`);
    return Number(text) * scale;
  };
  options.devices = number("devices") ?? options.devices;
  options.failRate = number("failRate") ?? options.failRate;
  options.workers = number("workers") ?? options.workers;
  options.timeoutMs = number("timeoutMs", 1_000) ?? options.timeoutMs;
  options.changes = number("changes") ?? options.changes;
  options.controllers = number("controllers") ?? options.controllers;
  const metricsPort = number("metricsPort");
  if (metricsPort !== undefined) options.metricsPort = metricsPort;
  if (typeof values.isolation === "string") {
    raw.isolation = JSON.stringify(values.isolation);
    options.isolation = values.isolation as Isolation;
  }
  options.quiet = values.quiet === true;
  if (typeof values.nats === "string") {
    raw.nats = JSON.stringify(redactUrls(values.nats));
    options.nats = values.nats;
  }

  const invalid = validate(options);
  if (invalid) {
    // As typed: "--timeout 0" says "got 0", not the milliseconds it became.
    const got = raw[invalid.field] ?? show(options[invalid.field]);
    throw new UsageError(FLAGS[invalid.field], `${invalid.message}, got ${got}`);
  }
  if (options.controllers > 1 && options.nats === undefined) {
    throw new UsageError("--controllers", "more than one controller process needs --nats (processes share the fleet through NATS)");
  }
  return { help: false, options };
}

const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i;

const VALUE_FLAGS = new Set(["--devices", "--fail-rate", "--workers", "--timeout", "--changes", "--controllers"]);

/**
 * parseArgs reads `--devices -3` as a flag missing its value followed by an
 * unknown flag `-3`; joining them gets the real complaint: -3 is not a count.
 */
function joinNegativeValues(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const next = args[i + 1];
    if (VALUE_FLAGS.has(args[i]) && next !== undefined && /^-[\d.]/.test(next)) {
      out.push(`${args[i]}=${next}`);
      i++;
    } else {
      out.push(args[i]);
    }
  }
  return out;
}

/** parseArgs's errors say the flag in quotes; the usage error names it first. */
export function fromParseArgsError(error: unknown, positionals = "demo takes flags only"): unknown {
  const code = (error as { code?: unknown })?.code;
  if (typeof code !== "string" || !code.startsWith("ERR_PARSE_ARGS_")) return error;
  const message = (error as Error).message.split("\n")[0];
  // "Unknown option '--bogus'", "Option '-q, --quiet' does not take…", "Unexpected argument 'x'".
  const quoted = /'([^']+)'/.exec(message)?.[1];
  const flag = quoted?.match(/--[\w-]+/)?.[0] ?? quoted?.split(" ")[0];
  switch (code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return new UsageError(flag, "unknown flag", { cause: error });
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return new UsageError(flag, `unexpected argument: ${positionals}`, { cause: error });
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return new UsageError(
        flag,
        / does not take an argument/.test(message) ? "takes no value" : "needs a value",
        { cause: error },
      );
    default:
      return new UsageError(flag, message, { cause: error });
  }
}

function show(value: unknown): string {
  // A value echoed back may be a server address with its password.
  return typeof value === "string" ? JSON.stringify(redactUrls(value)) : String(value);
}
