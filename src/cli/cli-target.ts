import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { createConnection } from "node:net";
import * as v from "valibot";
import { ConvergeError } from "../codec/errors.js";
import { parseKvKey } from "../storage/kv-key.js";
import { connectNats, redactServers } from "../events/nats-connection.js";
import { defaultLogger } from "../reconcile/logger.js";
import { KvStorage } from "../storage/kv-storage.js";
import { KindSchema, UidSchema } from "../codec/names.js";
import { parseCommandArgs, validateFlags, type FlagValues } from "./cli-args.js";
import type { CliIO } from "./cli-io.js";
import { NATS_SERVERS, NATS_SERVERS_MESSAGE } from "./demo-options.js";
import { UsageError } from "./usage-error.js";

/** Where the operator commands look: a NATS server and a KV bucket. */
export interface TargetOptions {
  nats: string;
  bucket: string;
  /** Longest wait for the server (connect, each request), in ms. */
  timeoutMs: number;
  output: "table" | "json";
}

/** The flags every operator command takes, for parseArgs. */
export const TARGET_FLAGS = {
  nats: { type: "string" },
  bucket: { type: "string" },
  timeout: { type: "string" },
  output: { type: "string", short: "o" },
  help: { type: "boolean", short: "h" },
} as const;

export const TARGET_USAGE = `Connection flags (every command but demo):
  --nats URL        the NATS server(s), comma-separated (required; or NATS_URL in the environment)
  --bucket NAME     the KV bucket of the resources (default converge)
  --timeout S       give up on an unreachable or silent server after S seconds (default 10)
  -o, --output FMT  table (default) or json
`;

const DEFAULT_TIMEOUT_S = 10;
const TIMEOUT_MESSAGE = "must be a number of seconds, more than 0 and at most 3600";

const TargetSchema = v.object({
  nats: v.pipe(v.string("is required (or set NATS_URL)"), v.regex(NATS_SERVERS, NATS_SERVERS_MESSAGE)),
  bucket: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,200}$/, "must be 1..200 letters, digits, '_' or '-' (a NATS KV bucket name)")),
  timeout: v.pipe(v.number(TIMEOUT_MESSAGE), v.gtValue(0, TIMEOUT_MESSAGE), v.maxValue(3_600, TIMEOUT_MESSAGE)),
  output: v.picklist(["table", "json"], 'must be "table" or "json"'),
});

const FLAG_NAMES: Record<string, string> = { nats: "--nats", bucket: "--bucket", timeout: "--timeout", output: "--output" };

/** The connection flags of a parsed command line, validated. @throws UsageError naming the flag. */
export function parseTarget(values: FlagValues, env: NodeJS.ProcessEnv = process.env): TargetOptions {
  const raw = {
    nats: values.nats ?? (env.NATS_URL || undefined),
    bucket: values.bucket ?? "converge",
    timeout: values.timeout === undefined ? DEFAULT_TIMEOUT_S : /^\s*[\d.]+\s*$/.test(String(values.timeout)) ? Number(values.timeout) : NaN,
    output: values.output ?? "table",
  };
  const shown = (key: string) => {
    const value = (raw as Record<string, unknown>)[key];
    // A server URL may carry a password: never echoed as typed.
    if (key === "nats") return typeof value === "string" ? JSON.stringify(redactServers(value.split(","))) : "nothing";
    return key === "timeout" ? JSON.stringify(values.timeout) : JSON.stringify(value);
  };
  const parsed = validateFlags(TargetSchema, raw, FLAG_NAMES, shown);
  return { nats: parsed.nats, bucket: parsed.bucket, timeoutMs: parsed.timeout * 1_000, output: parsed.output };
}

/** The open bucket: storage on it, the kinds stored there, and how to let go. */
export interface Target {
  readonly storage: KvStorage;
  readonly connection: NatsConnection;
  /** Where it is, without credentials, for messages. */
  readonly where: string;
  /** The kinds that have at least one resource in the bucket, sorted. */
  kinds(): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * The server or bucket cannot answer what was asked: unreachable, no such
 * bucket, no such kind or resource. Printed as one line; exit 1.
 */
export class TargetError extends ConvergeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_TARGET", message, options);
  }
}

/**
 * Connects and opens the bucket. A read-only command (`create: false`) does
 * not create a missing bucket: it says there is none.
 */
export async function openTarget(options: TargetOptions, io: CliIO, { create }: { create: boolean }): Promise<Target> {
  const servers = options.nats.split(",");
  const where = `bucket ${options.bucket} at ${redactServers(servers)}`;
  await probe(servers, options.timeoutMs).catch((error: unknown) => {
    throw new TargetError(`cannot connect to NATS at ${redactServers(servers)}: ${(error as Error).message}`, { cause: error });
  });
  const connection = await withDeadline(
    connectNats({ servers, waitOnFirstConnect: false, maxReconnectAttempts: -1, connectTimeoutMs: options.timeoutMs }),
    options.timeoutMs,
    (nc) => void nc.close(),
  ).catch((error: unknown) => {
    throw new TargetError(`cannot connect to NATS at ${redactServers(servers)}: ${(error as Error).message}`, { cause: error });
  });
  try {
    if (!create) {
      const jsm = await withDeadline(jetstreamManager(connection, { timeout: options.timeoutMs }), options.timeoutMs);
      await withDeadline(jsm.streams.info(`KV_${options.bucket}`), options.timeoutMs).catch((error: unknown) => {
        if ((error as { name?: string }).name === "StreamNotFoundError" || /stream not found/i.test(String((error as Error).message))) {
          throw new TargetError(`no KV bucket ${options.bucket} at ${redactServers(servers)} (--bucket names it)`);
        }
        throw error;
      });
    }
    const logger = defaultLogger({ level: "warn", write: (line) => io.stderr.write(`${line}\n`) });
    const storage = await KvStorage.open(connection, { bucket: options.bucket, timeout: options.timeoutMs, attempts: 1, logger });
    return {
      storage,
      connection,
      where,
      async kinds() {
        const kv = await new Kvm(connection).open(options.bucket);
        const kinds = new Set<string>();
        for await (const key of await kv.keys()) {
          const name = parseKvKey(key);
          if (name) kinds.add(name.kind);
        }
        return [...kinds].sort();
      },
      async close() {
        await storage.close();
        await connection.close();
      },
    };
  } catch (error) {
    await connection.close();
    if (error instanceof TargetError) throw error;
    throw new TargetError(`${where}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * `promise`, or a rejection once `ms` pass; what it resolves with later is
 * handed to `discard` (a connection made too late is closed, not leaked).
 */
function withDeadline<T>(promise: Promise<T>, ms: number, discard?: (late: T) => void): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timedOut = false;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(new Error(`no answer within ${ms / 1_000} s`));
    }, ms);
  });
  promise.then((value) => timedOut && discard?.(value), () => {});
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Resolves once one of `servers` greets (a NATS server's first line is INFO).
 * The client's own connect timeout leaves its socket open to a server that
 * accepts but never answers (a paused or wedged one), and that socket would
 * keep the process alive; this probe's socket is always destroyed.
 */
async function probe(servers: readonly string[], timeoutMs: number): Promise<void> {
  const errors: string[] = [];
  for (const server of servers) {
    const { hostname, port } = new URL(/^\w+:\/\//.test(server) ? server : `nats://${server}`);
    const host = hostname.replace(/^\[|\]$/g, "");
    try {
      await new Promise<void>((resolve, reject) => {
        const socket = createConnection({ host, port: Number(port || 4222) });
        const timer = setTimeout(() => done(new Error(`no answer within ${timeoutMs / 1_000} s`)), timeoutMs);
        const done = (error?: Error) => {
          clearTimeout(timer);
          socket.destroy();
          if (error) reject(error);
          else resolve();
        };
        socket.once("data", () => done());
        socket.once("error", (error: NodeJS.ErrnoException) => done(new Error(error.code === "ECONNREFUSED" ? "connection refused" : error.message)));
        socket.once("close", () => done(new Error("closed before it said hello")));
      });
      return;
    } catch (error) {
      errors.push((error as Error).message);
    }
  }
  throw new Error(errors.join("; "));
}

/** A kind the bucket has no resource of: most likely a typo, so the message lists the ones it has. */
export async function unknownKind(target: Target, kind: string): Promise<TargetError> {
  const kinds = await target.kinds();
  return new TargetError(
    `no resources of kind ${kind} in ${target.where}${kinds.length > 0 ? ` (kinds there: ${kinds.join(", ")})` : " (it is empty)"}`,
  );
}

/** Why `kind/uid` is not there: the whole kind is missing (likely a typo), or just that resource. */
export async function missingResource(target: Target, kind: string, uid: string): Promise<TargetError> {
  if ((await target.storage.list(kind)).length === 0) return unknownKind(target, kind);
  return new TargetError(`${kind}/${uid} does not exist in ${target.where}`);
}

/**
 * The arguments of a `<command> <kind> <uid>` command, checked; undefined
 * once `--help` has printed `usage`.
 */
export function parseResourceCommand(command: string, args: readonly string[], io: CliIO, usage: string): { kind: string; uid: string; target: TargetOptions } | undefined {
  const { values, positionals } = parseCommandArgs(command, args, TARGET_FLAGS, ["kind", "uid"]);
  if (values.help === true) {
    io.stdout.write(`${usage}\n${TARGET_USAGE}`);
    return undefined;
  }
  const kind = checkName(KindSchema, positionals.kind, "<kind>");
  const uid = checkName(UidSchema, positionals.uid, "<uid>");
  return { kind, uid, target: parseTarget(values) };
}

/** A kind or uid argument that can never name a resource: a usage error. */
export function checkName(schema: v.GenericSchema<unknown, string>, value: string, argument: string): string {
  const result = v.safeParse(schema, value);
  if (!result.success) throw new UsageError(argument, `${JSON.stringify(value)} ${result.issues[0].message}`);
  return result.output;
}
