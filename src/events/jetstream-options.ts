import * as v from "valibot";
import type { CloudEventFormat } from "../codec/cloud-event-codec.js";
import { ValidationError } from "../codec/errors.js";
import { assertJetStreamName, assertSubjectPrefix, prefixesOverlap } from "./jetstream-names.js";

/** What the JetStream bus logs through; `console`, pino and converge's `defaultLogger()` fit. */
/** Called as `(fields, message)`, pino's order, which `console` takes too; a logger for `(message, ...args)` still fits. */
export interface JetStreamEventBusLogger {
  debug(first: string | Readonly<Record<string, unknown>>, ...rest: unknown[]): void;
  info(first: string | Readonly<Record<string, unknown>>, ...rest: unknown[]): void;
  warn(first: string | Readonly<Record<string, unknown>>, ...rest: unknown[]): void;
  error(first: string | Readonly<Record<string, unknown>>, ...rest: unknown[]): void;
}

export interface NakDelay {
  /** Delay before the second delivery; doubles per delivery after that. */
  baseMs: number;
  /** Cap on the delay. */
  maxMs: number;
}

export interface JetStreamEventBusOptions {
  /** Stream of the events; default `CONVERGE_EVENTS`. Dead letters go to `<stream>_DLQ`. */
  stream?: string;
  /** Events of type `t` are published on `<subjectPrefix>.t`; default `converge.events`. */
  subjectPrefix?: string;
  /** Body encoding of the structured CloudEvent; default `msgpack`. */
  format?: CloudEventFormat;
  /** A re-published event id is stored once within this window; default 2 minutes. */
  duplicateWindowMs?: number;
  /** Unacknowledged deliveries are redelivered after this; default 30 s. A running handler extends it. */
  ackWaitMs?: number;
  /** Deliveries of an event to one subscription before it is dead-lettered; default 5. */
  maxDeliver?: number;
  /** Redelivery delay after a handler failure: `base * 2^(deliveries-1)`, capped; default 1 s .. 60 s. */
  nakDelayMs?: NakDelay;
  /** Dead letters are published on `<deadLetterSubject>.<event type>`; default `converge.deadletter`. */
  deadLetterSubject?: string;
  /** Server-side cap on unacknowledged deliveries per subscription; default the server's. */
  maxAckPending?: number;
  logger?: JetStreamEventBusLogger;
  /** Wait for the stream's acknowledgement of one publish attempt, and for any JetStream API reply; default 5 s. */
  publishTimeoutMs?: number;
  /** Attempts of a publish that times out (server restarting) before it rejects; default 6. */
  publishAttempts?: number;
  /** Longest `close()` waits for subscriptions to catch up before it stops them anyway; default 30 s. */
  closeTimeoutMs?: number;
  /** Stream replicas when the bus creates its streams (1..5; more than 1 needs a cluster). Default 1. */
  replicas?: number;
  /**
   * Retention of both streams: events older than this are removed; 0 keeps
   * them for ever. Default 24 hours (events wake controllers up; storage is
   * the truth, and a controller relists when it starts).
   */
  maxAgeMs?: number;
  /** Retention: the oldest events go once a stream holds more bytes than this; -1: no limit. Default 1 GiB. */
  maxBytes?: number;
  /** Retention: the oldest events go once a stream holds more events than this; -1: no limit. Default 1,000,000. */
  maxMsgs?: number;
}

/** A stream's retention limits, in the server's terms (max_age in nanoseconds: 0 is none; -1 for no byte or message limit). */
export interface StreamLimits {
  readonly maxAgeMs: number;
  readonly maxBytes: number;
  readonly maxMsgs: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = Object.freeze({
  maxAgeMs: 24 * 60 * 60_000,
  maxBytes: 1024 ** 3,
  maxMsgs: 1_000_000,
});

const limit = (min: number, unlimited: string) =>
  v.optional(
    v.pipe(
      v.number(`must be an integer (${unlimited})`),
      v.safeInteger(`must be an integer (${unlimited})`),
      v.minValue(min, `must be at least ${min} (${unlimited})`),
    ),
  );

// The options added with retention; the older ones keep their hand-written checks below.
const StreamOptionsSchema = v.object({
  replicas: v.optional(
    v.pipe(v.number("must be an integer from 1 to 5"), v.safeInteger("must be an integer from 1 to 5"), v.minValue(1, "must be an integer from 1 to 5"), v.maxValue(5, "must be an integer from 1 to 5")),
  ),
  maxAgeMs: limit(0, "0 keeps events for ever"),
  maxBytes: limit(-1, "-1 is no limit"),
  maxMsgs: limit(-1, "-1 is no limit"),
});

export interface ResolvedOptions {
  readonly stream: string;
  readonly deadLetterStream: string;
  readonly subjectPrefix: string;
  readonly format: CloudEventFormat;
  readonly duplicateWindowMs: number;
  readonly ackWaitMs: number;
  readonly maxDeliver: number;
  readonly nakDelayMs: Readonly<NakDelay>;
  readonly deadLetterSubject: string;
  readonly maxAckPending: number | undefined;
  readonly logger: JetStreamEventBusLogger;
  readonly publishTimeoutMs: number;
  readonly publishAttempts: number;
  readonly closeTimeoutMs: number;
  readonly replicas: number;
  readonly limits: StreamLimits;
  /** The limits the caller set (the others are defaults, which never replace an operator's limit). */
  readonly explicitLimits: ReadonlySet<keyof StreamLimits>;
}

const KNOWN: ReadonlySet<string> = new Set([
  "stream",
  "subjectPrefix",
  "format",
  "duplicateWindowMs",
  "ackWaitMs",
  "maxDeliver",
  "nakDelayMs",
  "deadLetterSubject",
  "maxAckPending",
  "logger",
  "publishTimeoutMs",
  "publishAttempts",
  "closeTimeoutMs",
  "replicas",
  "maxAgeMs",
  "maxBytes",
  "maxMsgs",
]);

/** Checks every option (unknown ones too: a typo must not silently fall back to a default). */
export function resolveOptions(input: JetStreamEventBusOptions | undefined): ResolvedOptions {
  if (input === undefined) input = {};
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    throw new ValidationError("options", "must be an object");
  }
  for (const key of Object.keys(input)) {
    if (!KNOWN.has(key)) throw new ValidationError(`options.${key}`, "is not an option of JetStreamEventBus");
  }
  const stream = assertJetStreamName(input.stream ?? "CONVERGE_EVENTS", "options.stream");
  const subjectPrefix = assertSubjectPrefix(input.subjectPrefix ?? "converge.events", "options.subjectPrefix");
  const deadLetterSubject = assertSubjectPrefix(input.deadLetterSubject ?? "converge.deadletter", "options.deadLetterSubject");
  if (prefixesOverlap(subjectPrefix, deadLetterSubject)) {
    throw new ValidationError(
      "options.deadLetterSubject",
      `${JSON.stringify(deadLetterSubject)} overlaps the event subjects ${JSON.stringify(`${subjectPrefix}.>`)}: dead letters would be redelivered as events`,
    );
  }
  const format = input.format ?? "msgpack";
  if (format !== "msgpack" && format !== "json") {
    throw new ValidationError("options.format", `must be "msgpack" or "json", got ${JSON.stringify(format)}`);
  }
  const nak = input.nakDelayMs ?? { baseMs: 1000, maxMs: 60_000 };
  if (nak === null || typeof nak !== "object") {
    throw new ValidationError("options.nakDelayMs", "must be an object { baseMs, maxMs }");
  }
  const baseMs = integer(nak.baseMs, "options.nakDelayMs.baseMs", 0);
  const maxMs = integer(nak.maxMs, "options.nakDelayMs.maxMs", 0);
  if (maxMs < baseMs) throw new ValidationError("options.nakDelayMs.maxMs", `${maxMs} must not be less than baseMs (${baseMs})`);
  const logger = input.logger ?? console;
  for (const level of ["debug", "info", "warn", "error"] as const) {
    if (logger === null || typeof logger !== "object" || typeof logger[level] !== "function") {
      throw new ValidationError("options.logger", `must have a ${level}() method`);
    }
  }
  const streamOptions = v.safeParse(StreamOptionsSchema, {
    replicas: input.replicas,
    maxAgeMs: input.maxAgeMs,
    maxBytes: input.maxBytes,
    maxMsgs: input.maxMsgs,
  });
  if (!streamOptions.success) {
    const issue = streamOptions.issues[0];
    const key = String(issue.path?.[0]?.key ?? "");
    throw new ValidationError(`options.${key}`, `${describe(issue.input)} ${issue.message}`);
  }
  const { replicas = 1, ...given } = streamOptions.output;
  const explicitLimits = new Set((Object.keys(given) as (keyof StreamLimits)[]).filter((k) => given[k] !== undefined));
  return {
    replicas,
    limits: Object.freeze({
      maxAgeMs: given.maxAgeMs ?? DEFAULT_STREAM_LIMITS.maxAgeMs,
      maxBytes: given.maxBytes ?? DEFAULT_STREAM_LIMITS.maxBytes,
      maxMsgs: given.maxMsgs ?? DEFAULT_STREAM_LIMITS.maxMsgs,
    }),
    explicitLimits,
    stream,
    deadLetterStream: `${stream}_DLQ`,
    subjectPrefix,
    format,
    duplicateWindowMs: integer(input.duplicateWindowMs ?? 120_000, "options.duplicateWindowMs", 1),
    // Below 100 ms redeliveries would race ordinary handler latency.
    ackWaitMs: integer(input.ackWaitMs ?? 30_000, "options.ackWaitMs", 100),
    maxDeliver: integer(input.maxDeliver ?? 5, "options.maxDeliver", 1),
    nakDelayMs: Object.freeze({ baseMs, maxMs }),
    deadLetterSubject,
    maxAckPending: input.maxAckPending === undefined ? undefined : integer(input.maxAckPending, "options.maxAckPending", 1),
    logger,
    publishTimeoutMs: integer(input.publishTimeoutMs ?? 5000, "options.publishTimeoutMs", 1),
    publishAttempts: integer(input.publishAttempts ?? 6, "options.publishAttempts", 1),
    closeTimeoutMs: integer(input.closeTimeoutMs ?? 30_000, "options.closeTimeoutMs", 0),
  };
}

function integer(value: unknown, path: string, min: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw new ValidationError(path, `${describe(value)} must be an integer`);
  }
  if (value < min) throw new ValidationError(path, `${value} must be at least ${min}`);
  return value;
}

function describe(value: unknown): string {
  if (typeof value === "number") return String(value);
  if (typeof value === "string") return JSON.stringify(value);
  return `(${value === null ? "null" : typeof value})`;
}
