import { MessageChannel, type MessagePort as NodeMessagePort } from "node:worker_threads";
import type { Piscina } from "piscina";
import {
  toWireError,
  type BatchItem,
  type ClientOp,
  type ItemOutcome,
  type MainMessage,
  type SessionReturn,
  type WireError,
  type WorkerMessage,
} from "./protocol.js";

export interface SessionHooks {
  onOutcomes(session: WorkerSession, outcomes: ItemOutcome[]): void;
  onLog(level: "debug" | "info" | "warn" | "error", args: unknown[]): void;
  onCall(op: ClientOp, args: unknown[]): Promise<unknown>;
  /** The session's thread died (crash, exit, or killed by the watchdog) or the session ended. */
  onEnded(session: WorkerSession, failure: SessionFailure | undefined): void;
}

export interface SessionFailure {
  error: unknown;
  /** The watchdog killed the thread (a reconcile ignored its abort). */
  killed: boolean;
  /** Keys sent and not reported back, with when each was sent (performance.now()). */
  lost: Map<number, number>;
}

const EXIT_WAIT_MS = 10_000;

/**
 * The main thread's side of one worker thread's long-lived session: a
 * Piscina task that serves `run` messages on a private port until closed.
 * Tracks the keys it holds (in send order: the first is the oldest, which the
 * watchdog reads) so that none is lost when the thread dies.
 */
export class WorkerSession {
  /** Keys sent and not yet reported, to when they were sent. Insertion order = send order. */
  readonly inFlight = new Map<number, number>();
  readonly #port: NodeMessagePort;
  readonly #killer = new AbortController();
  readonly #hooks: SessionHooks;
  #threadId = -1;
  #received = 0;
  #wanted = -1;
  #allReceived: (() => void) | undefined;
  #ended = false;
  /** Outcomes received: a session that reports none before dying counts as failing at start. */
  delivered = 0;

  constructor(
    piscina: Piscina<unknown, SessionReturn>,
    options: { timeoutMs: number; logLevel: string; modules: Record<string, string> },
    hooks: SessionHooks,
  ) {
    this.#hooks = hooks;
    const { port1, port2 } = new MessageChannel();
    this.#port = port1;
    port1.on("message", (message: WorkerMessage) => this.#receive(message));
    const task = { port: port2, modules: options.modules, timeoutMs: options.timeoutMs, logLevel: options.logLevel };
    void piscina
      .run(task, { transferList: [port2] as never, signal: this.#killer.signal })
      .then((result) => this.#closed(result), (error) => this.#died(piscina, error));
  }

  /** Sends keys to run now. */
  send(items: BatchItem[], now: number): void {
    for (const item of items) this.inFlight.set(item.h, now);
    this.#post({ t: "run", items });
  }

  abort(hs: number[], reason: WireError): void {
    if (hs.length > 0) this.#post({ t: "abort", hs, reason });
  }

  /** Finish what runs, then end (onEnded without failure). */
  close(): void {
    this.#post({ t: "close" });
  }

  /** Terminates the thread: its keys are reported lost. */
  kill(): void {
    this.#killer.abort();
  }

  /** Killed or ended: the watchdog has nothing more to do with it. */
  get finishing(): boolean {
    return this.#ended || this.#killer.signal.aborted;
  }

  #receive(message: WorkerMessage): void {
    this.#received++;
    switch (message.t) {
      case "started":
        this.#threadId = message.threadId;
        break;
      case "outcomes":
        for (const outcome of message.outcomes) this.inFlight.delete(outcome.h);
        this.delivered += message.outcomes.length;
        this.#hooks.onOutcomes(this, message.outcomes);
        break;
      case "log":
        this.#hooks.onLog(message.level, message.args);
        break;
      case "call":
        void this.#answer(message.id, this.#hooks.onCall(message.op, message.args));
        break;
    }
    if (this.#received === this.#wanted) this.#allReceived?.();
  }

  async #closed(result: SessionReturn): Promise<void> {
    // Port messages travel on another channel than the task's result: read
    // every one the worker says it posted (outcomes, log lines) before closing.
    if (this.#received < result.posted) {
      this.#wanted = result.posted;
      await new Promise<void>((resolve) => (this.#allReceived = resolve));
    }
    this.#end(undefined);
  }

  async #died(piscina: Piscina<unknown, SessionReturn>, error: unknown): Promise<void> {
    // Piscina rejects an aborted task before its thread has stopped: wait for
    // the exit, so a retry of these keys can never overlap the old run.
    const worker = piscina.threads.find((w) => w.threadId === this.#threadId);
    if (worker) {
      await new Promise<void>((resolve) => {
        // A worker that outlives this is stuck past terminate(): give up waiting rather than the controller.
        const timer = setTimeout(resolve, EXIT_WAIT_MS);
        worker.once("exit", () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    this.#end({ error, killed: this.#killer.signal.aborted, lost: new Map(this.inFlight) });
  }

  #end(failure: SessionFailure | undefined): void {
    if (this.#ended) return;
    this.#ended = true;
    this.inFlight.clear();
    this.#port.close();
    this.#hooks.onEnded(this, failure);
  }

  async #answer(id: number, value: Promise<unknown>): Promise<void> {
    let reply: MainMessage;
    try {
      reply = { t: "reply", id, ok: true, value: await value };
    } catch (error) {
      reply = { t: "reply", id, ok: false, error: toWireError(error) };
    }
    this.#post(reply);
  }

  #post(message: MainMessage): void {
    if (this.#ended) return;
    try {
      this.#port.postMessage(message);
    } catch (error) {
      // A reply the client call produced that cannot be cloned: the call fails, not the session.
      if (message.t === "reply" && message.ok) {
        this.#port.postMessage({ t: "reply", id: message.id, ok: false, error: toWireError(error) } satisfies MainMessage);
      } else throw error;
    }
  }
}
