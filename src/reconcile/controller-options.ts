import * as v from "valibot";
import { ValidationError } from "../codec/errors.js";
import type { Sharding } from "../cluster/sharding.js";
import type { RateLimiter } from "../queue/rate-limiter.js";
import type { LeaderElection } from "./leader-sharding.js";
import type { ControllerOptions } from "./controller.js";
import { LOG_LEVELS, type LogLevel, type Logger } from "./logger.js";
import { ControllerMetrics } from "../metrics/metrics.js";

// setTimeout and setInterval run a delay above 2^31-1 ms after 1 ms instead: a
// reconcileTimeout that large would abort every reconcile at once.
const MAX_TIMER_MS = 2_147_483_647;

const PositiveInteger = v.pipe(
  v.number("must be a positive integer"),
  v.safeInteger("must be a positive integer"),
  v.minValue(1, "must be a positive integer"),
);

const Milliseconds = v.pipe(
  v.number("must be a positive integer of milliseconds"),
  v.safeInteger("must be a positive integer of milliseconds"),
  v.minValue(1, "must be a positive integer of milliseconds"),
  v.maxValue(MAX_TIMER_MS, `must be at most ${MAX_TIMER_MS} ms (the longest timer delay)`),
);

const NonEmptyString = v.pipe(v.string("must be a non-empty string"), v.nonEmpty("must be a non-empty string"));

const RATE_LIMITER_METHODS = ["when", "forget", "numRequeues"] as const;
const LOGGER_METHODS = ["debug", "info", "warn", "error"] as const;
const SHARDING_METHODS = ["partitionOf", "owns", "fence", "join", "leave", "stats"] as const;
const ELECTION_METHODS = ["changes", "resign"] as const;

/**
 * An object (class instances included: the value itself is kept, not copied)
 * whose `methods` are all functions. The message names the first one missing.
 */
function withMethods<T>(what: string, methods: readonly string[]) {
  const expected = `must be ${what} (an object with ${methods.join(", ")} methods)`;
  return v.pipe(
    v.custom<T>((x) => (typeof x === "object" || typeof x === "function") && x !== null, expected),
    v.rawCheck<T>(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      const target = dataset.value as Record<string, unknown>;
      const missing = methods.find((name) => typeof target[name] !== "function");
      if (missing !== undefined) addIssue({ message: `${expected}: ${missing} is not a function` });
    }),
  );
}

const PlainObject = v.custom<Record<string, unknown>>((input) => {
  if (input === null || typeof input !== "object" || Array.isArray(input)) return false;
  const proto = Object.getPrototypeOf(input);
  return proto === Object.prototype || proto === null;
}, "must be a plain object of options");

const OptionEntries = v.object({
  workers: v.optional(PositiveInteger),
  isolation: v.optional(v.picklist(["worker", "inline"], 'must be "worker" or "inline"')),
  maxConcurrentReconciles: v.optional(PositiveInteger),
  rateLimiter: v.optional(withMethods<RateLimiter<string>>("a rate limiter", RATE_LIMITER_METHODS)),
  reconcileTimeout: v.optional(Milliseconds),
  maxBatch: v.optional(PositiveInteger),
  logger: v.optional(withMethods<Logger>("a logger", LOGGER_METHODS)),
  workerLogLevel: v.optional(
    v.picklist(LOG_LEVELS as LogLevel[], `must be one of ${LOG_LEVELS.map((l) => JSON.stringify(l)).join(", ")}`),
  ),
  workerResourceLimits: v.optional(
    v.strictObject(
      {
        maxOldGenerationSizeMb: v.optional(PositiveInteger),
        maxYoungGenerationSizeMb: v.optional(PositiveInteger),
        codeRangeSizeMb: v.optional(PositiveInteger),
        stackSizeMb: v.optional(PositiveInteger),
      },
      "must be an object of maxOldGenerationSizeMb, maxYoungGenerationSizeMb, codeRangeSizeMb, stackSizeMb (positive integers)",
    ),
  ),
  eventSource: v.optional(NonEmptyString),
  workerFile: v.optional(NonEmptyString),
  resyncPeriod: v.optional(Milliseconds),
  garbageCollection: v.optional(v.boolean("must be true or false")),
  metrics: v.optional(v.instance(ControllerMetrics, "must be a ControllerMetrics")),
  sharding: v.optional(withMethods<Sharding>("a Sharding (KvSharding from converge/nats)", SHARDING_METHODS)),
  leaderElection: v.optional(withMethods<LeaderElection>("a leader election (KvLeaderElection from converge/nats)", ELECTION_METHODS)),
});

// A ControllerOptions field missing above would be refused as unknown: fail the build instead.
type Unvalidated = Exclude<keyof ControllerOptions, keyof typeof OptionEntries.entries>;
const everyOptionValidated: [Unvalidated] extends [never] ? true : Unvalidated = true;
void everyOptionValidated;

/** Every option `new Controller` knows; any other name is refused, so a typo never silently becomes a default. */
export const CONTROLLER_OPTION_NAMES: readonly string[] = Object.keys(OptionEntries.entries);

const KNOWN: ReadonlySet<string> = new Set(CONTROLLER_OPTION_NAMES);

/** `new Controller`'s options as they arrive from the caller. */
export const ControllerOptionsSchema = v.pipe(
  PlainObject,
  // Names first: valibot's object schema would drop an unknown (or
  // `__proto__`) key silently, and its problem is its name, not its value.
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const input = dataset.value;
    const unknown = Object.keys(input).find((key) => !KNOWN.has(key));
    if (unknown === undefined) return;
    addIssue({
      message: `is not an option (known: ${CONTROLLER_OPTION_NAMES.join(", ")})`,
      path: [{ type: "object", origin: "key", input, key: unknown, value: input[unknown] }],
    });
  }),
  OptionEntries,
);

/**
 * Validates `new Controller`'s options and returns a shallow copy holding only
 * the given ones (objects such as the logger are the caller's own). Throws
 * `ValidationError` whose path names the option, e.g. `options.workers`; an
 * unknown option name is an error too.
 */
export function parseControllerOptions(options: unknown): ControllerOptions {
  if (options === undefined) return {};
  let result: ReturnType<typeof v.safeParse<typeof ControllerOptionsSchema>>;
  try {
    result = v.safeParse(ControllerOptionsSchema, options, { abortEarly: true });
  } catch (cause) {
    // A getter or proxy that throws while being read.
    throw new ValidationError("options", `could not be read: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
  if (result.success) {
    const parsed: ControllerOptions = result.output;
    if (parsed.sharding !== undefined && parsed.leaderElection !== undefined) {
      throw new ValidationError("options.leaderElection", "cannot be combined with options.sharding (a leader holds the whole fleet)");
    }
    return parsed;
  }
  const issue = result.issues[0];
  const item = issue.path?.[0] as { key?: unknown; origin?: string } | undefined;
  if (item === undefined || typeof item.key !== "string") {
    throw new ValidationError("options", `${issue.message}, got ${describe(options)}`);
  }
  const path = `options.${item.key}`;
  if (item.origin === "key") throw new ValidationError(path, issue.message);
  throw new ValidationError(path, `${issue.message}, got ${describe(issue.input)}`);
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (typeof value === "bigint") return `${value}n`;
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return "(array)";
  return `(${typeof value})`;
}
