import { ConvergeError } from "../codec/errors.js";

/**
 * Throw from a reconcile to mark a permanent failure: the key is not retried
 * (until its resource changes), the failure is counted and recorded as the
 * resource's `Reconciled=False` condition with `reason`.
 */
export class TerminalError extends ConvergeError {
  readonly reason: string;
  constructor(message: string, options?: { reason?: string; cause?: unknown }) {
    super("ERR_TERMINAL", message, options);
    this.reason = options?.reason ?? "TerminalError";
  }
}

/** A reconcile ran past `reconcileTimeout`. */
export class ReconcileTimeoutError extends ConvergeError {
  constructor(
    key: string,
    readonly timeoutMs: number,
  ) {
    super("ERR_RECONCILE_TIMEOUT", `${key}: reconcile exceeded ${timeoutMs} ms and was aborted`);
  }
}

/** The worker running a reconcile died (crash, exit, or killed after a timeout). */
export class WorkerCrashError extends ConvergeError {
  constructor(key: string, cause: unknown) {
    super("ERR_WORKER_CRASH", `${key}: worker died during reconcile: ${describeCause(cause)}`, { cause });
  }
}

/**
 * A reconcile stopped through no fault of its own: its worker thread was
 * replaced because another reconcile on it ignored its abort, or this process
 * lost the key's partition. Retried like any failure; counted apart.
 */
export class ReconcileInterruptedError extends ConvergeError {
  constructor(key: string, why: string) {
    super("ERR_RECONCILE_INTERRUPTED", `${key}: reconcile interrupted: ${why}`);
  }
}

/** A controller method was used in a state that does not allow it. */
export class ControllerStateError extends ConvergeError {
  constructor(message: string) {
    super("ERR_CONTROLLER_STATE", message);
  }
}

/** A reconciler could not be registered (bad module, missing kind, duplicate kind). */
export class RegistrationError extends ConvergeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_REGISTRATION", message, options);
  }
}

function describeCause(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
