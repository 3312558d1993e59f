// The messages between the controller (main thread) and reconcile workers.
// Everything here is structured-clone friendly: plain objects, no classes.
import type { MessagePort } from "node:worker_threads";

/** One key sent to a worker, with the resource the main thread loaded for it. */
export interface BatchItem {
  /** The controller's handle of the key; echoed back in the outcome. */
  h: number;
  kind: string;
  uid: string;
  reason?: string;
  attempt: number;
  resource: unknown;
  /** Scale-out: the lease of the key's partition, for reconcilers to hand to devices. */
  fence?: { partition: number; token: number };
}

/**
 * The one long-lived Piscina task of a worker thread: it serves `run`
 * messages on `port` until told to close. Keys stream in and outcomes stream
 * out as each reconcile ends; a message is transport only, never a unit of
 * completion.
 */
export interface SessionTask {
  port: MessagePort;
  /** kind -> module URL of its reconciler; imported as the session starts, while the main thread lists. */
  modules: Record<string, string>;
  timeoutMs: number;
  logLevel: string;
}

/** What a session task resolves to once closed: how many port messages it posted, so none is lost. */
export interface SessionReturn {
  posted: number;
}

/** An error carried across threads: enough to log it and decide on a retry. */
export interface WireError {
  name: string;
  message: string;
  code?: string;
  /** A TerminalError: never retried. */
  terminal?: boolean;
  reason?: string;
  stack?: string;
}

export interface EmittedEvent {
  type: string;
  kind: string;
  uid: string;
  data: unknown;
}

export interface RequestedEnqueue {
  kind: string;
  uid: string;
  reason?: string;
  /** 0: now. */
  afterMs: number;
}

/** What a reconcile asked the main thread to do, applied after it returns. */
export interface Effects {
  /** Present when updateStatus was called: the status as of its last call. */
  status?: { value: unknown };
  /** Present when setCondition touched the resource but no updateStatus followed. */
  conditions?: unknown[];
  /** metadata.finalizers as the reconcile left them, when addFinalizer/removeFinalizer changed them. */
  finalizers?: string[];
  events?: EmittedEvent[];
  enqueues?: RequestedEnqueue[];
}

export interface ItemOutcome {
  h: number;
  requeue?: boolean;
  requeueAfter?: number;
  error?: WireError;
  effects?: Effects;
  /** Wall time of the reconcile call, ms. */
  ms: number;
}

export type ClientOp = "get" | "list" | "create" | "update" | "delete";

export type WorkerMessage =
  | { t: "started"; threadId: number }
  | { t: "outcomes"; outcomes: ItemOutcome[] }
  /** A log call as the reconciler made it: `(fields, message)` or `(message, ...args)`, cloned. */
  | { t: "log"; level: "debug" | "info" | "warn" | "error"; args: unknown[] }
  | { t: "call"; id: number; op: ClientOp; args: unknown[] };

export type MainMessage =
  /** Start these reconciles now. */
  | { t: "run"; items: BatchItem[] }
  /** Abort these keys' reconciles now (their signal), e.g. a partition this process lost. */
  | { t: "abort"; hs: number[]; reason: WireError }
  /** Finish what runs, then end the task. */
  | { t: "close" }
  | { t: "reply"; id: number; ok: true; value: unknown }
  | { t: "reply"; id: number; ok: false; error: WireError };

/** Turns anything thrown into a WireError, keeping TerminalError's meaning. */
export function toWireError(error: unknown): WireError {
  if (error instanceof Error) {
    const e = error as Error & { code?: unknown; reason?: unknown };
    const wire: WireError = { name: e.name, message: e.message };
    if (typeof e.code === "string") wire.code = e.code;
    if (e.code === "ERR_TERMINAL") {
      wire.terminal = true;
      if (typeof e.reason === "string") wire.reason = e.reason;
    }
    if (e.stack) wire.stack = e.stack;
    return wire;
  }
  return { name: "Error", message: `non-Error thrown: ${safeString(error)}` };
}

function safeString(value: unknown): string {
  try {
    return typeof value === "string" ? value : JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
