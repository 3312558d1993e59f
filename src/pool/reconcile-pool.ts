import { Piscina } from "piscina";
import type { BatchItem, ClientOp, ItemOutcome, SessionReturn, WireError } from "./protocol.js";
import { WorkerSession, type SessionFailure } from "./worker-session.js";

export interface WorkerResourceLimits {
  maxOldGenerationSizeMb?: number;
  maxYoungGenerationSizeMb?: number;
  codeRangeSizeMb?: number;
  stackSizeMb?: number;
}

export interface ReconcilePoolOptions {
  filename: string;
  threads: number;
  /** reconcileTimeout: each reconcile's signal aborts this long after its own start. */
  timeoutMs: number;
  /** A key not reported this long after it was sent ignored its abort: its thread is replaced. */
  killAfterMs: number;
  logLevel: string;
  /** Most keys in one message to a worker. */
  maxBatch: number;
  /** Each worker thread's heap limits; one that runs out is replaced, its keys retried. */
  resourceLimits?: WorkerResourceLimits;
  /** kind -> reconciler module URL, for every kind that runs here. */
  modules: Record<string, string>;
}

export interface PoolHooks {
  /** Outcomes as each reconcile ends (those ending in the same worker turn arrive together). */
  onOutcomes(outcomes: ItemOutcome[]): void;
  onLog(level: "debug" | "info" | "warn" | "error", args: unknown[]): void;
  onCall(op: ClientOp, args: unknown[]): Promise<unknown>;
  /** A thread died with these keys unreported; each must be settled (retried), none is lost. */
  onLost(failure: LostKeys): void;
}

export interface LostKeys {
  error: unknown;
  /** Keys past their kill deadline (they ignored their abort): timeouts. */
  stuck: number[];
  /** The others that ran on the same thread: interrupted, through no fault of their own. */
  interrupted: number[];
  /** True when the watchdog replaced the thread; false for a crash. */
  killed: boolean;
}

// A thread that dies before reporting anything (a reconciler module that
// kills it on import) is restarted after a growing pause, not in a hot loop.
const RESPAWN_BASE_MS = 50;
const RESPAWN_MAX_MS = 5_000;

/**
 * The worker threads, each running one long-lived session (see
 * WorkerSession). Keys stream: `run` queues a key, and once per event-loop
 * turn the queued keys go to the least-loaded threads, a message per thread
 * (a burst still travels in few messages). Outcomes come back as each
 * reconcile ends. A watchdog replaces a thread holding a key past its kill
 * deadline; a thread that dies reports its keys lost, and a new session
 * takes its place.
 */
export class ReconcilePool {
  readonly #piscina: Piscina<unknown, SessionReturn>;
  readonly #options: ReconcilePoolOptions;
  readonly #hooks: PoolHooks;
  readonly #sessions: WorkerSession[] = [];
  #queued: BatchItem[] = [];
  #flushScheduled = false;
  #watchdog: ReturnType<typeof setTimeout> | undefined;
  #closing = false;
  #closed: Promise<void> | undefined;
  #endedWaiters: (() => void)[] = [];
  #failuresAtStart = 0;
  #respawnTimer: ReturnType<typeof setTimeout> | undefined;
  #replaced = 0;

  constructor(options: ReconcilePoolOptions, hooks: PoolHooks) {
    this.#options = options;
    this.#hooks = hooks;
    this.#piscina = new Piscina({
      filename: options.filename,
      minThreads: options.threads,
      maxThreads: options.threads,
      // One session task per thread; the session runs many reconciles at once.
      concurrentTasksPerWorker: 1,
      idleTimeout: 60_000,
      // Keep workers' event loops running: sessions live on ports and timers.
      atomics: "disabled",
      ...(options.resourceLimits ? { resourceLimits: options.resourceLimits } : {}),
    });
    this.#piscina.on("error", () => {
      // A thread's death reaches its session's task; nothing more to do here.
    });
    for (let i = 0; i < options.threads; i++) this.#spawn();
  }

  get threads(): number {
    return this.#options.threads;
  }

  /** Threads replaced after a crash or a kill, since start. */
  get replaced(): number {
    return this.#replaced;
  }

  /** Runs `item` on a worker thread; its outcome comes through onOutcomes (or onLost). */
  run(item: BatchItem): void {
    this.#queued.push(item);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  /** Aborts these keys' signals wherever they run. */
  abort(hs: readonly number[], reason: WireError): void {
    for (const session of this.#sessions) {
      const held = hs.filter((h) => session.inFlight.has(h));
      session.abort(held, reason);
    }
  }

  /** Lets running reconciles finish, ends every session, then stops the threads. */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#closing = true;
    clearTimeout(this.#respawnTimer);
    this.#flush();
    for (const session of this.#sessions) session.close();
    while (this.#sessions.length > 0) await new Promise<void>((resolve) => this.#endedWaiters.push(resolve));
    clearTimeout(this.#watchdog);
    await this.#piscina.close();
  }

  async destroy(): Promise<void> {
    this.#closing = true;
    clearTimeout(this.#respawnTimer);
    clearTimeout(this.#watchdog);
    await this.#piscina.destroy();
  }

  #spawn(): void {
    const session = new WorkerSession(
      this.#piscina,
      { timeoutMs: this.#options.timeoutMs, logLevel: this.#options.logLevel, modules: this.#options.modules },
      {
        onOutcomes: (_session, outcomes) => {
          this.#failuresAtStart = 0;
          this.#hooks.onOutcomes(outcomes);
        },
        onLog: this.#hooks.onLog,
        onCall: this.#hooks.onCall,
        onEnded: (ended, failure) => this.#ended(ended, failure),
      },
    );
    this.#sessions.push(session);
    if (this.#queued.length > 0) this.#flush();
  }

  #ended(session: WorkerSession, failure: SessionFailure | undefined): void {
    const at = this.#sessions.indexOf(session);
    if (at >= 0) this.#sessions.splice(at, 1);
    for (const wake of this.#endedWaiters.splice(0)) wake();
    if (failure === undefined) return;
    this.#replaced++;
    const now = performance.now();
    const stuck: number[] = [];
    const interrupted: number[] = [];
    for (const [h, sentAt] of failure.lost) {
      if (failure.killed && now - sentAt >= this.#options.killAfterMs) stuck.push(h);
      else interrupted.push(h);
    }
    if (stuck.length > 0 || interrupted.length > 0) {
      this.#hooks.onLost({ error: failure.error, stuck, interrupted, killed: failure.killed });
    }
    if (this.#closing) return;
    if (session.delivered > 0 || failure.killed) {
      this.#failuresAtStart = 0;
      this.#spawn();
      return;
    }
    const delay = Math.min(RESPAWN_MAX_MS, RESPAWN_BASE_MS * 2 ** this.#failuresAtStart++);
    this.#respawnTimer = setTimeout(() => {
      this.#respawnTimer = undefined;
      if (!this.#closing) this.#spawn();
    }, delay);
  }

  /** Sends the keys queued this turn, each to the least-loaded thread. */
  #flush(): void {
    this.#flushScheduled = false;
    const sessions = this.#sessions;
    if (this.#queued.length === 0 || sessions.length === 0) return;
    const items = this.#queued;
    this.#queued = [];
    const load = sessions.map((s) => s.inFlight.size);
    const shares: BatchItem[][] = sessions.map(() => []);
    for (const item of items) {
      let least = 0;
      for (let i = 1; i < load.length; i++) if (load[i] < load[least]) least = i;
      load[least]++;
      shares[least].push(item);
    }
    const now = performance.now();
    const { maxBatch } = this.#options;
    for (let i = 0; i < sessions.length; i++) {
      const share = shares[i];
      for (let from = 0; from < share.length; from += maxBatch) {
        sessions[i].send(from === 0 && share.length <= maxBatch ? share : share.slice(from, from + maxBatch), now);
      }
    }
    this.#armWatchdog();
  }

  /** One timer while anything runs, at the oldest key's kill deadline. */
  #armWatchdog(): void {
    if (this.#watchdog !== undefined) return;
    let oldest = Infinity;
    for (const session of this.#sessions) {
      if (session.finishing) continue;
      for (const sentAt of session.inFlight.values()) {
        if (sentAt < oldest) oldest = sentAt;
        break; // insertion order: the first is the oldest
      }
    }
    if (oldest === Infinity) return;
    const wait = Math.max(1, Math.ceil(oldest + this.#options.killAfterMs - performance.now()));
    this.#watchdog = setTimeout(() => {
      this.#watchdog = undefined;
      const now = performance.now();
      for (const session of this.#sessions) {
        if (session.finishing) continue;
        for (const sentAt of session.inFlight.values()) {
          if (now - sentAt >= this.#options.killAfterMs) session.kill();
          break;
        }
      }
      this.#armWatchdog();
    }, wait);
    // The watchdog alone is no reason to keep a process alive.
    (this.#watchdog as { unref?: () => void }).unref?.();
  }
}
