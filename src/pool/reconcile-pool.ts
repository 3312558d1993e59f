import { MessageChannel, type MessagePort as NodeMessagePort } from "node:worker_threads";
import { Piscina } from "piscina";
import {
  toWireError,
  type BatchItem,
  type BatchReturn,
  type ClientOp,
  type ItemOutcome,
  type MainMessage,
  type WorkerMessage,
} from "./protocol.js";

export interface ReconcilePoolOptions {
  filename: string;
  threads: number;
  /** Batches one worker may run at once (async reconcilers overlap their waits). */
  concurrentTasksPerWorker: number;
  /** Called for pool-level failures not tied to a batch. */
  onError(error: unknown): void;
}

export interface BatchHooks {
  onOutcomes(outcomes: ItemOutcome[]): void;
  onLog(level: "debug" | "info" | "warn" | "error", message: string, args: unknown[]): void;
  onCall(op: ClientOp, args: unknown[]): Promise<unknown>;
}

export interface BatchRequest {
  modules: Record<string, string>;
  items: BatchItem[];
  timeoutMs: number;
  logLevel: string;
  /** Past this, the worker is presumed stuck (it ignored its abort signal) and is replaced. */
  killAfterMs: number;
}

/** How a batch ended when the worker did not return normally. */
export interface BatchFailure {
  error: unknown;
  /** True when the batch was killed for running past `killAfterMs`. */
  killed: boolean;
}

const EXIT_WAIT_MS = 10_000;

/**
 * Piscina wiring: one task per batch (one postMessage), a private port per
 * batch for outcomes as they finish, log lines and client calls. A worker that
 * dies or is killed rejects only its own batch; Piscina starts a replacement.
 */
export class ReconcilePool {
  readonly #piscina: Piscina<unknown, BatchReturn>;

  constructor(options: ReconcilePoolOptions) {
    this.#piscina = new Piscina({
      filename: options.filename,
      minThreads: options.threads,
      maxThreads: options.threads,
      concurrentTasksPerWorker: options.concurrentTasksPerWorker,
      idleTimeout: 60_000,
      // Keep workers' event loops running between tasks: a blocked loop would
      // stall ports and timers that belong to the next batch.
      atomics: "disabled",
    });
    this.#piscina.on("error", options.onError);
  }

  get threads(): number {
    return this.#piscina.maxThreads;
  }

  /** Busy share of the pool's capacity since it started, 0..1. */
  get utilization(): number {
    return this.#piscina.utilization;
  }

  /** Resolves when the batch is over: undefined on a normal return, the failure otherwise. Never rejects. */
  async runBatch(request: BatchRequest, hooks: BatchHooks): Promise<BatchFailure | undefined> {
    const { port1, port2 } = new MessageChannel();
    let received = 0;
    let wanted = -1;
    let threadId = -1;
    let allReceived: (() => void) | undefined;
    port1.on("message", (message: WorkerMessage) => {
      received++;
      switch (message.t) {
        case "started":
          threadId = message.threadId;
          break;
        case "outcomes":
          hooks.onOutcomes(message.outcomes);
          break;
        case "log":
          hooks.onLog(message.level, message.message, message.args);
          break;
        case "call":
          void answer(port1, message.id, hooks.onCall(message.op, message.args));
          break;
      }
      if (received === wanted) allReceived?.();
    });
    const killer = new AbortController();
    const timer = setTimeout(() => killer.abort(), request.killAfterMs);
    try {
      const task = { modules: request.modules, items: request.items, timeoutMs: request.timeoutMs, logLevel: request.logLevel, port: port2 };
      const result = await this.#piscina.run(task, { transferList: [port2], signal: killer.signal });
      // Port messages travel on another channel than the return value: read
      // every one the worker says it posted (outcomes, log lines) before closing.
      if (received < result.posted) {
        wanted = result.posted;
        await new Promise<void>((resolve) => (allReceived = resolve));
      }
      if (result.outcomes.length > 0) hooks.onOutcomes(result.outcomes);
      return undefined;
    } catch (error) {
      // Piscina rejects an aborted task before its thread has stopped: wait for
      // the exit, so a retry of these keys can never overlap the old run.
      await this.#exited(threadId);
      return { error, killed: killer.signal.aborted };
    } finally {
      clearTimeout(timer);
      port1.close();
    }
  }

  async #exited(threadId: number): Promise<void> {
    const worker = this.#piscina.threads.find((w) => w.threadId === threadId);
    if (!worker) return;
    await new Promise<void>((resolve) => {
      // A worker that outlives this is stuck past terminate(): give up waiting rather than the controller.
      const timer = setTimeout(resolve, EXIT_WAIT_MS);
      worker.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Waits for running batches, then stops the workers. */
  async close(): Promise<void> {
    await this.#piscina.close();
  }

  async destroy(): Promise<void> {
    await this.#piscina.destroy();
  }
}

async function answer(port: NodeMessagePort, id: number, value: Promise<unknown>): Promise<void> {
  let reply: MainMessage;
  try {
    reply = { t: "reply", id, ok: true, value: await value };
  } catch (error) {
    reply = { t: "reply", id, ok: false, error: toWireError(error) };
  }
  try {
    port.postMessage(reply);
  } catch {
    // The batch ended (port closed) before the reply: nobody is waiting for it.
  }
}
