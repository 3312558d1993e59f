import * as v from "valibot";
import { ValidationError } from "../codec/errors.js";
import { type Clock, monotonicClock } from "./clock.js";

/** What lease code logs: hand-overs (info), renew failures and lost leases (warn). `console`, pino and converge's `Logger` fit. */
export interface ClusterLogger {
  info(message: string, ...args: unknown[]): void;
  warn(message: string, ...args: unknown[]): void;
}

export interface KvShardingOptions {
  /** KV bucket of the leases and member keys (created when missing). Default `"converge-shards"`. */
  bucket?: string;
  /** Partitions keys are spread over (1..4096); every process sharing the bucket must use the same. Default 64. */
  partitions?: number;
  /** How long a lease lasts without a renewal seen (100 ms .. 1 h); renewed every third of it. Default 10,000. */
  leaseMs?: number;
  /** This process's name among the members: 1..128 letters, digits, '_' or '-', unique among live processes (e.g. `${hostname}-${pid}`). */
  identity: string;
  /** Stream replicas when the bucket is created (1..5); 3 on a 3-node cluster. Default 1. */
  replicas?: number;
  /** Monotonic milliseconds for expiry judgements; tests inject one. Default `performance.now()`. */
  clock?: Clock;
  /** Default: console. */
  logger?: ClusterLogger;
}

export interface KvLeaderElectionOptions {
  /** KV bucket of the election's lease (created when missing). Default `"converge-leaders"`. */
  bucket?: string;
  /** What is elected: the lease key is `leader.<name>`. Letters, digits, '_' and '-'. */
  name: string;
  /** As for KvSharding. Default 10,000. */
  leaseMs?: number;
  /** This process's name; shown as the leader's. */
  identity: string;
  replicas?: number;
  clock?: Clock;
  logger?: ClusterLogger;
}

export interface ResolvedLeaseOptions {
  readonly bucket: string;
  readonly leaseMs: number;
  readonly identity: string;
  readonly replicas: number;
  readonly clock: Clock;
  readonly logger: ClusterLogger;
}

export interface ResolvedShardingOptions extends ResolvedLeaseOptions {
  readonly partitions: number;
}

export interface ResolvedElectionOptions extends ResolvedLeaseOptions {
  readonly name: string;
}

const TOKEN = /^[A-Za-z0-9_-]+$/;

const Token = (what: string, max: number) =>
  v.pipe(
    v.string(`must be a string (${what})`),
    v.nonEmpty(`must not be empty (${what})`),
    v.maxLength(max, `must be at most ${max} characters`),
    v.regex(TOKEN, `must hold only letters, digits, '_' and '-' (${what})`),
  );

const Integer = (min: number, max: number) =>
  v.pipe(
    v.number(`must be an integer from ${min} to ${max}`),
    v.safeInteger(`must be an integer from ${min} to ${max}`),
    v.minValue(min, `must be an integer from ${min} to ${max}`),
    v.maxValue(max, `must be an integer from ${min} to ${max}`),
  );

function withMethods<T>(what: string, methods: readonly string[]) {
  return v.custom<T>(
    (x) => typeof x === "object" && x !== null && methods.every((m) => typeof (x as Record<string, unknown>)[m] === "function"),
    `must be ${what} (an object with ${methods.join(", ")} methods)`,
  );
}

const LeaseEntries = {
  bucket: v.optional(Token("a NATS KV bucket name", 200)),
  leaseMs: v.optional(Integer(100, 3_600_000)),
  identity: Token("a member identity such as `${hostname}-${pid}`", 128),
  replicas: v.optional(Integer(1, 5)),
  clock: v.optional(withMethods<Clock>("a clock", ["now"])),
  logger: v.optional(withMethods<ClusterLogger>("a logger", ["info", "warn"])),
};

const ShardingSchema = v.strictObject(
  { ...LeaseEntries, partitions: v.optional(Integer(1, 4096)) },
  "is not an option of KvSharding",
);

const ElectionSchema = v.strictObject(
  { ...LeaseEntries, name: Token("an election name", 128) },
  "is not an option of KvLeaderElection",
);

export function resolveShardingOptions(input: unknown): ResolvedShardingOptions {
  const o = parse(ShardingSchema, input);
  return { ...leaseDefaults(o, "converge-shards"), partitions: o.partitions ?? 64 };
}

export function resolveElectionOptions(input: unknown): ResolvedElectionOptions {
  const o = parse(ElectionSchema, input);
  return { ...leaseDefaults(o, "converge-leaders"), name: o.name };
}

function leaseDefaults(o: v.InferOutput<v.ObjectSchema<typeof LeaseEntries, undefined>>, bucket: string): ResolvedLeaseOptions {
  return {
    bucket: o.bucket ?? bucket,
    leaseMs: o.leaseMs ?? 10_000,
    identity: o.identity,
    replicas: o.replicas ?? 1,
    clock: o.clock ?? monotonicClock,
    logger: o.logger ?? console,
  };
}

/** Parses `input`, or throws `ValidationError` whose path names the first bad option (`options.leaseMs`). */
function parse<S extends v.GenericSchema>(schema: S, input: unknown): v.InferOutput<S> {
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    throw new ValidationError("options", "must be an object with at least `identity`");
  }
  let result: v.SafeParseResult<S>;
  try {
    result = v.safeParse(schema, input, { abortEarly: true });
  } catch (cause) {
    throw new ValidationError("options", `could not be read: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
  if (result.success) return result.output;
  const issue = result.issues[0];
  const key = issue.path?.[0]?.key;
  const path = typeof key === "string" ? `options.${key}` : "options";
  const got = issue.kind === "schema" && issue.type === "strict_object" ? "" : `, got ${describe(issue.input)}`;
  throw new ValidationError(path, `${issue.message}${got}`);
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (typeof value === "number" || typeof value === "boolean" || value === undefined || value === null) return String(value);
  return `(${Array.isArray(value) ? "array" : typeof value})`;
}
