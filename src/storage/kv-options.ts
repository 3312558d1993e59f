import { type Codec, codecFor } from "../codec/codec.js";
import { ValidationError } from "../codec/errors.js";

/** What KvStorage logs: skipped unreadable entries. `console`, pino and converge's `Logger` fit. */
/** Called as `(fields, message)`, pino's order, which `console` takes too; a logger for `(message, ...args)` still fits. */
export interface KvStorageLogger {
  warn(first: string | Readonly<Record<string, unknown>>, ...rest: unknown[]): void;
}

export interface KvStorageOptions {
  /** KV bucket name (letters, digits, `_`, `-`); created when missing. Default `"converge"`. */
  bucket?: string;
  /** How values are encoded; `json` lets other languages and the nats CLI read them. Default `"msgpack"`. */
  format?: "msgpack" | "json";
  /**
   * Values kept per key when the bucket is created (1..64). A watcher that falls
   * more than `history` writes of one key behind sees only the later ones (the
   * server has dropped the others); the last write of every key is always seen.
   * Default 1, like NATS KV.
   */
  history?: number;
  /** Stream replicas when the bucket is created (1..5). Default 1. */
  replicas?: number;
  /**
   * No longer used: `loadAll` reads every key through one consumer instead of
   * a get per key. Still validated (1..100000), so existing options stay valid.
   */
  loadConcurrency?: number;
  /** Milliseconds one attempt of a KV request waits for its answer. Default 5000. */
  timeout?: number;
  /** Attempts of a request that gets no answer (server away), the first one included. Default 3. */
  attempts?: number;
  /** Where unreadable entries skipped by `loadAll`/`list`/`watch` are reported. Default: console.warn. */
  logger?: KvStorageLogger;
}

export interface ResolvedKvStorageOptions {
  readonly bucket: string;
  readonly codec: Codec;
  readonly history: number;
  readonly replicas: number;
  readonly loadConcurrency: number;
  readonly timeout: number;
  readonly attempts: number;
  readonly logger: KvStorageLogger;
}

const KNOWN = new Set(["bucket", "format", "history", "replicas", "loadConcurrency", "timeout", "attempts", "logger"]);

// NATS' own rule for bucket names; the stream is `KV_<bucket>`.
const BUCKET = /^[A-Za-z0-9_-]+$/;
const MAX_BUCKET_LENGTH = 200;

const consoleLogger: KvStorageLogger = {
  warn: (first, ...rest) => (typeof first === "string" ? console.warn(`[WARN] ${first}`, ...rest) : console.warn(`[WARN] ${String(rest[0])}`, first)),
};

/** Options with defaults filled in; `ValidationError` naming the option for anything invalid. */
export function resolveKvStorageOptions(options: KvStorageOptions | undefined): ResolvedKvStorageOptions {
  if (options === undefined) options = {};
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new ValidationError("options", "must be an object");
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) throw new ValidationError(`options.${key}`, `is not an option (known: ${[...KNOWN].join(", ")})`);
  }
  const bucket = options.bucket ?? "converge";
  if (typeof bucket !== "string" || !BUCKET.test(bucket) || bucket.length > MAX_BUCKET_LENGTH) {
    throw new ValidationError(
      "options.bucket",
      `${show(bucket)} must be 1..${MAX_BUCKET_LENGTH} letters, digits, '_' or '-' (a NATS KV bucket name)`,
    );
  }
  const format = options.format ?? "msgpack";
  if (format !== "msgpack" && format !== "json") {
    throw new ValidationError("options.format", `${show(format)} must be "msgpack" or "json"`);
  }
  const logger = options.logger ?? consoleLogger;
  if (typeof logger !== "object" || logger === null || typeof logger.warn !== "function") {
    throw new ValidationError("options.logger", "must be an object with a warn(message, ...args) method");
  }
  return {
    bucket,
    codec: codecFor(format),
    history: integer(options.history, "history", 1, 1, 64),
    replicas: integer(options.replicas, "replicas", 1, 1, 5),
    loadConcurrency: integer(options.loadConcurrency, "loadConcurrency", 64, 1, 100_000),
    timeout: integer(options.timeout, "timeout", 5000, 1, 3_600_000),
    attempts: integer(options.attempts, "attempts", 3, 1, 100),
    logger,
  };
}

function integer(value: unknown, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new ValidationError(`options.${name}`, `${show(value)} must be an integer from ${min} to ${max}`);
  }
  return value;
}

function show(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}
