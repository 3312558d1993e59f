import { ConvergeError } from "../codec/errors.js";

/**
 * A KV operation got no answer from the server (timeouts, no responders) in
 * every attempt. For a write, the outcome is unknown: the request may still be
 * applied once the server is back, so re-read before assuming either way.
 */
export class KvUnavailableError extends ConvergeError {
  constructor(
    readonly operation: string,
    readonly attempts: number,
    options?: { cause?: unknown },
  ) {
    super(
      "ERR_KV_UNAVAILABLE",
      `${operation}: no answer from NATS after ${attempts} attempt${attempts === 1 ? "" : "s"} (${reason(options?.cause)})`,
      options,
    );
  }
}

/** A storage watch could not start, or its NATS watch ended without being asked to. */
export class KvWatchError extends ConvergeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_KV_WATCH", message, options);
  }
}

function reason(cause: unknown): string {
  return cause instanceof Error ? cause.message || cause.name : String(cause);
}

/**
 * The bucket was lost while the storage ran (deleted, or the server's store
 * wiped) and has been created again, empty: every watch ends with this error.
 * Watch again and relist; what was stored before is gone.
 */
export class KvBucketResetError extends ConvergeError {
  constructor(
    readonly bucket: string,
    readonly reason: string,
  ) {
    super("ERR_KV_BUCKET_RESET", `KV bucket "${bucket}" was lost (${reason}) and created again: watch again and relist`);
  }
}
