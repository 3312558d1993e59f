// Piscina entry point: one long-lived session per worker thread. Keys stream in
// (`run` messages), each reconcile starts at once with its own deadline and
// signal, and each outcome streams back when that reconcile ends. Reconciler
// code is the only thing that runs here; every write is an effect the main
// thread applies.
import { threadId, type MessagePort as NodeMessagePort } from "node:worker_threads";
import type {
  BatchItem,
  ClientOp,
  ItemOutcome,
  MainMessage,
  SessionReturn,
  SessionTask,
  WireError,
  WorkerMessage,
} from "../src/pool/protocol.js";
import { unsendableOutcome } from "../src/pool/outcome-check.js";
import { defaultLogger, LOG_LEVELS, type LogFields, type Logger, type LogLevel } from "../src/reconcile/logger.js";
import type { RunContext } from "../src/reconcile/run-context.js";
import type { Reconciler } from "../src/reconcile/reconciler.js";
import { loadReconcilerModule } from "../src/reconcile/reconciler-module.js";
import { runReconcile } from "../src/reconcile/run-reconcile.js";

const modules = new Map<string, Promise<Reconciler>>();

// The thread's session: `this.logger` of every reconciler instance (one per
// module and thread) writes through it. Between sessions (a timer a reconcile
// left behind after close), this thread's console.
let current: Session | undefined;
let fallbackLogger: Logger | undefined;

function routed(level: "debug" | "info" | "warn" | "error") {
  return (first: string | LogFields, ...rest: unknown[]): void => {
    if (current) current.logger[level](first, ...rest);
    else (fallbackLogger ??= defaultLogger())[level](first, ...rest);
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
    // A failed import is retried by the next key, not cached forever.
    loading.catch(() => modules.delete(url));
    modules.set(url, loading);
  }
  return loading;
}

export default function serveSession(task: SessionTask): Promise<SessionReturn> {
  const session = new Session(task);
  current = session;
  return session.served;
}

class RemoteError extends Error {
  readonly code: string | undefined;
  constructor(wire: WireError) {
    super(wire.message);
    this.name = wire.name;
    this.code = wire.code;
  }
}

/** The worker side of one thread's session port. */
class Session {
  readonly logger: Logger;
  readonly served: Promise<SessionReturn>;
  readonly #port: NodeMessagePort;
  readonly #timeoutMs: number;
  readonly #kindModules = new Map<string, string>();
  /** Running reconciles' deadlines by handle, so an `abort` message reaches them. */
  readonly #deadlines = new Map<number, RunContext>();
  #running = 0;
  #closing = false;
  #pending: ItemOutcome[] = [];
  #flushScheduled = false;
  #posted = 0;
  #nextCall = 1;
  readonly #calls = new Map<number, { resolve(v: unknown): void; reject(e: unknown): void }>();
  #resolveServed!: (value: SessionReturn) => void;
  readonly #track = (h: number, deadline: RunContext | undefined): void => {
    if (deadline) this.#deadlines.set(h, deadline);
    else this.#deadlines.delete(h);
  };

  constructor(task: SessionTask) {
    this.#port = task.port;
    this.#timeoutMs = task.timeoutMs;
    for (const [kind, url] of Object.entries(task.modules)) {
      this.#kindModules.set(kind, url);
      // Imported now, while the main thread lists; a failure surfaces on the first key of that kind.
      reconcilerAt(url).catch(() => {});
    }
    this.served = new Promise((resolve) => (this.#resolveServed = resolve));
    const min = Math.max(0, LOG_LEVELS.indexOf(task.logLevel as LogLevel));
    const at = (level: "debug" | "info" | "warn" | "error") =>
      LOG_LEVELS.indexOf(level) < min
        ? () => {}
        : (first: string | LogFields, ...rest: unknown[]) => this.#post({ t: "log", level, args: [cloneable(first), ...rest.map(cloneable)] });
    this.logger = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
    this.#port.on("message", (message: MainMessage) => this.#receive(message));
    // Lets the main thread wait for this thread's exit if the session dies with it.
    this.#post({ t: "started", threadId });
  }

  #receive(message: MainMessage): void {
    switch (message.t) {
      case "run":
        for (const item of message.items) void this.#run(item);
        break;
      case "abort":
        for (const h of message.hs) this.#deadlines.get(h)?.abort(new RemoteError(message.reason));
        break;
      case "close":
        this.#closing = true;
        this.#endIfDone();
        break;
      case "reply": {
        const waiting = this.#calls.get(message.id);
        if (!waiting) return;
        this.#calls.delete(message.id);
        if (message.ok) waiting.resolve(message.value);
        else waiting.reject(new RemoteError(message.error));
        break;
      }
    }
  }

  readonly #call = (op: ClientOp, args: unknown[]): Promise<unknown> => {
    const id = this.#nextCall++;
    return new Promise((resolve, reject) => {
      this.#calls.set(id, { resolve, reject });
      this.#post({ t: "call", id, op, args });
    });
  };

  async #run(item: BatchItem): Promise<void> {
    this.#running++;
    let outcome: ItemOutcome;
    const url = this.#kindModules.get(item.kind);
    if (url === undefined) {
      outcome = { h: item.h, ms: 0, error: { name: "RegistrationError", code: "ERR_REGISTRATION", message: `no reconciler module for kind ${item.kind}` } };
    } else {
      try {
        const reconciler = await reconcilerAt(url);
        outcome = await runReconcile(reconciler, item, { logger: this.logger, timeoutMs: this.#timeoutMs, call: this.#call, track: this.#track });
      } catch (error) {
        const e = error as Error & { code?: string };
        outcome = { h: item.h, ms: 0, error: { name: e.name, message: e.message, code: e.code ?? "ERR_REGISTRATION" } };
      }
    }
    this.#running--;
    this.#pending.push(outcome);
    // Outcomes that end in the same turn share one message.
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => {
        this.#flushScheduled = false;
        this.#flush();
        this.#endIfDone();
      });
    }
  }

  #flush(): void {
    if (this.#pending.length === 0) return;
    const outcomes = this.#pending;
    this.#pending = [];
    try {
      this.#post({ t: "outcomes", outcomes });
    } catch {
      // Something a reconcile recorded cannot be cloned (a function in its
      // status): send one by one, and fail only the outcome that cannot go,
      // with the error inline isolation gives for the same value.
      for (const outcome of outcomes) {
        try {
          this.#post({ t: "outcomes", outcomes: [outcome] });
        } catch (error) {
          this.#post({ t: "outcomes", outcomes: [unsendableOutcome(outcome, error)] });
        }
      }
    }
  }

  #endIfDone(): void {
    if (!this.#closing || this.#running > 0 || this.#flushScheduled) return;
    this.#flush();
    for (const { reject } of this.#calls.values()) reject(new Error("session closed"));
    this.#calls.clear();
    if (current === this) current = undefined;
    // Counted from here on: nothing more is posted through this port.
    this.#resolveServed({ posted: this.#posted });
  }

  #post(message: WorkerMessage): void {
    this.#port.postMessage(message);
    this.#posted++;
  }
}

function cloneable(arg: unknown): unknown {
  if (arg instanceof Error) return arg.message;
  // Fields ({ kind, err }): an Error among them travels as its message, as the default logger prints it.
  if (arg !== null && typeof arg === "object" && Object.getPrototypeOf(arg) === Object.prototype) {
    const fields: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(arg)) fields[key] = cloneable(value);
    return fields;
  }
  if (arg === null || typeof arg !== "object") return typeof arg === "function" || typeof arg === "symbol" ? String(arg) : arg;
  try {
    return structuredClone(arg);
  } catch {
    return String(arg);
  }
}
