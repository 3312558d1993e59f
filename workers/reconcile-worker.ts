// Piscina entry point: runs one batch of reconciles. Reconciler code is the only
// thing that runs here; every write is an effect the main thread applies.
import { threadId, type MessagePort as NodeMessagePort } from "node:worker_threads";
import type {
  BatchItem,
  BatchReturn,
  BatchTask,
  ClientOp,
  ItemOutcome,
  MainMessage,
  WireError,
  WorkerMessage,
} from "../src/pool/protocol.js";
import { ReconcileTimeoutError } from "../src/reconcile/errors.js";
import { defaultLogger, LOG_LEVELS, type Logger, type LogLevel } from "../src/reconcile/logger.js";
import type { Reconciler } from "../src/reconcile/reconciler.js";
import { loadReconcilerModule } from "../src/reconcile/reconciler-module.js";
import { runReconcile } from "../src/reconcile/run-reconcile.js";

const modules = new Map<string, Promise<Reconciler>>();

// `this.logger` of a reconciler (one instance serves every batch of this
// thread) writes through the batch of the reconcile running synchronously
// (`running`: what a reconcile logs before its first await, the usual case),
// else through the newest batch still open: every port leads to the
// controller's logger. No async context follows a reconcile across awaits: an
// AsyncLocalStorage, on Node 20, hooks every promise, which cost ~10% of the
// worker pool's throughput. `ctx.logger` is always the reconcile's own batch.
let running: BatchSession | undefined;
// Batches whose port is open and whose posted messages are still counted.
const openSessions = new Set<BatchSession>();

function newestSession(): BatchSession | undefined {
  let newest: BatchSession | undefined;
  for (const session of openSessions) newest = session;
  return newest;
}

let fallbackLogger: Logger | undefined;

function routed(level: "debug" | "info" | "warn" | "error") {
  return (message: string, ...args: unknown[]): void => {
    const session = running ?? newestSession();
    // Between batches (a timer the reconcile left behind): this thread's console.
    if (session) session.logger[level](message, ...args);
    else (fallbackLogger ??= defaultLogger())[level](message, ...args);
  };
}

const reconcilerLogger: Logger = { debug: routed("debug"), info: routed("info"), warn: routed("warn"), error: routed("error") };

function reconcilerAt(url: string): Promise<Reconciler> {
  let loading = modules.get(url);
  if (!loading) {
    loading = loadReconcilerModule(url).then((instance) => {
      const target = instance as { logger?: Logger };
      if ("logger" in target) target.logger = reconcilerLogger;
      return instance;
    });
    // A failed import is retried by the next batch, not cached forever.
    loading.catch(() => modules.delete(url));
    modules.set(url, loading);
  }
  return loading;
}

export default async function reconcileBatch(task: BatchTask): Promise<BatchReturn> {
  const session = new BatchSession(task.port, task.logLevel);
  // Lets the main thread wait for this thread's exit if the batch dies with it.
  session.started(threadId);
  // The batch's keys start together, so they share one deadline: one timer, one signal.
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new ReconcileTimeoutError("batch", task.timeoutMs)), task.timeoutMs);
  try {
    await Promise.all(
      task.items.map(async (item) => {
        const outcome = await runItem(task, item, abort.signal, session);
        session.finish(outcome, task.items.length);
      }),
    );
    return session.end();
  } finally {
    clearTimeout(timer);
    session.close();
  }
}


async function runItem(task: BatchTask, item: BatchItem, signal: AbortSignal, session: BatchSession): Promise<ItemOutcome> {
  const url = task.modules[item.kind];
  if (url === undefined) {
    return { h: item.h, ms: 0, error: { name: "RegistrationError", code: "ERR_REGISTRATION", message: `no reconciler module for kind ${item.kind}` } };
  }
  let reconciler: Reconciler;
  try {
    reconciler = await reconcilerAt(url);
  } catch (error) {
    const e = error as Error & { code?: string };
    return { h: item.h, ms: 0, error: { name: e.name, message: e.message, code: e.code ?? "ERR_REGISTRATION" } };
  }
  running = session;
  try {
    // The reconcile's synchronous part runs inside this call.
    return runReconcile(reconciler, item, { logger: session.logger, signal, call: session.call });
  } finally {
    running = undefined;
  }
}

class RemoteError extends Error {
  readonly code: string | undefined;
  constructor(wire: WireError) {
    super(wire.message);
    this.name = wire.name;
    this.code = wire.code;
  }
}

/** The worker side of one batch's port. */
class BatchSession {
  readonly logger: Logger;
  #pending: ItemOutcome[] = [];
  #finished = 0;
  #posted = 0;
  #flushScheduled = false;
  #nextCall = 1;
  #calls = new Map<number, { resolve(v: unknown): void; reject(e: unknown): void }>();
  #listening = false;

  constructor(
    private readonly port: NodeMessagePort,
    logLevel: string,
  ) {
    const min = Math.max(0, LOG_LEVELS.indexOf(logLevel as LogLevel));
    const at = (level: "debug" | "info" | "warn" | "error") =>
      LOG_LEVELS.indexOf(level) < min
        ? () => {}
        : (message: string, ...args: unknown[]) => this.post({ t: "log", level, message: String(message), args: args.map(cloneable) });
    this.logger = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
    openSessions.add(this);
  }

  started(threadId: number): void {
    this.post({ t: "started", threadId });
  }

  readonly call = (op: ClientOp, args: unknown[]): Promise<unknown> => {
    if (!this.#listening) {
      this.#listening = true;
      this.port.on("message", (message: MainMessage) => {
        const waiting = this.#calls.get(message.id);
        if (!waiting) return;
        this.#calls.delete(message.id);
        if (message.ok) waiting.resolve(message.value);
        else waiting.reject(new RemoteError(message.error));
      });
    }
    const id = this.#nextCall++;
    return new Promise((resolve, reject) => {
      this.#calls.set(id, { resolve, reject });
      this.post({ t: "call", id, op, args });
    });
  };

  /** Outcomes finishing in the same turn share one message; the last ones ride on the return value. */
  finish(outcome: ItemOutcome, total: number): void {
    this.#pending.push(outcome);
    this.#finished++;
    if (this.#finished < total && !this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.#flushScheduled = false;
    if (this.#pending.length === 0) return;
    const outcomes = this.#pending;
    this.#pending = [];
    this.post({ t: "outcomes", outcomes });
  }

  end(): BatchReturn {
    // Counted from here on: nothing more may be posted through this port.
    openSessions.delete(this);
    const outcomes = this.#pending;
    this.#pending = [];
    return { outcomes, posted: this.#posted };
  }

  close(): void {
    openSessions.delete(this);
    for (const { reject } of this.#calls.values()) reject(new Error("batch ended"));
    this.#calls.clear();
    this.port.close();
  }

  private post(message: WorkerMessage): void {
    this.#posted++;
    this.port.postMessage(message);
  }
}

function cloneable(arg: unknown): unknown {
  if (arg instanceof Error) return arg.message;
  if (arg === null || typeof arg !== "object") return typeof arg === "function" || typeof arg === "symbol" ? String(arg) : arg;
  try {
    return structuredClone(arg);
  } catch {
    return String(arg);
  }
}
