import { availableParallelism } from "node:os";
import { ValidationError } from "../codec/errors.js";
import { assertKind, assertUid } from "../codec/names.js";
import type { Sharding, ShardingStats } from "../cluster/sharding.js";
import type { CloudEvent } from "../events/cloud-event.js";
import type { EventBus, Subscription } from "../events/event-bus.js";
import { ControllerMetrics } from "../metrics/metrics.js";
import { HealthState } from "../metrics/metrics-health.js";
import type { ClientOp } from "../pool/protocol.js";
import type { WorkerResourceLimits } from "../pool/reconcile-pool.js";
import { defaultWorkerFile } from "../pool/worker-file.js";
import { defaultControllerRateLimiter } from "../queue/default-rate-limiter.js";
import { DEFAULT_PRIORITY, LOW_PRIORITY, MAX_PRIORITY } from "../queue/priority.js";
import { RateLimitedWorkQueue } from "../queue/rate-limited-work-queue.js";
import type { RateLimiter } from "../queue/rate-limiter.js";
import type { Resource } from "../storage/resource.js";
import type { Storage } from "../storage/storage.js";
import { parseControllerOptions } from "./controller-options.js";
import { ControllerQueue } from "./controller-queue.js";
import { newCounters, type ControllerStats } from "./controller-stats.js";
import { Dispatcher } from "./dispatcher.js";
import { ControllerStateError } from "./errors.js";
import { Informer } from "./informer.js";
import { InlineRunner } from "./inline-runner.js";
import { LeaderSharding, type LeaderElection } from "./leader-sharding.js";
import { defaultLogger, type Logger } from "./logger.js";
import { OutcomeApplier } from "./outcome-applier.js";
import { PartitionGate } from "./partition-gate.js";
import { PooledRunner } from "./pooled-runner.js";
import type { ReconcileRunner } from "./reconcile-runner.js";
import type { ReconcileRequest, Reconciler } from "./reconciler.js";
import { Registrations, type Isolation, type RegisterOptions } from "./registrations.js";
import { ResourceHandles } from "./resource-handles.js";
import { ResultPolicy } from "./result-policy.js";
import { StorageClient } from "./storage-client.js";

export type { Isolation, RegisterOptions } from "./registrations.js";
export type { ControllerStats } from "./controller-stats.js";
export type { LeaderElection } from "./leader-sharding.js";

export interface ControllerOptions {
  /** Worker threads (worker isolation). Default: CPU count. */
  workers?: number;
  /** Where reconcilers registered by URL run. Instances always run inline. Default "worker". */
  isolation?: Isolation;
  /**
   * Reconciles in flight at once, across the controller and both isolations
   * (controller-runtime's name). A slow reconcile holds only its own slot.
   * Default 1024: device reconciles mostly wait on a network.
   */
  maxConcurrentReconciles?: number;
  /** Backoff for failed keys, keyed `kind/uid`. Default: exponential 5 ms .. 1000 s. */
  rateLimiter?: RateLimiter<string>;
  /** Each reconcile's signal aborts this long after its own start; it is then retried with backoff. Default 30 000 ms. */
  reconcileTimeout?: number;
  /** Most keys sent to a worker thread in one message (transport only). Default 256. */
  maxBatch?: number;
  logger?: Logger;
  /** Lowest level forwarded from workers' loggers. Default "info". */
  workerLogLevel?: "debug" | "info" | "warn" | "error" | "silent";
  /** Heap limits of each worker thread; one that runs out is replaced and its keys retried. Default: 1024 MB old generation. */
  workerResourceLimits?: WorkerResourceLimits;
  /** CloudEvents `source` of emitted events. Default "converge". */
  eventSource?: string;
  /** Reconcile worker entry file; the built one by default. */
  workerFile?: string;
  /** Every this many ms, enqueue every resource again (a safety net for missed changes). Default: off. */
  resyncPeriod?: number;
  /** Delete resources whose owner (metadata.ownerUid + ownerKind) is gone. Default true. */
  garbageCollection?: boolean;
  /** Where to count queue and reconcile metrics (Prometheus text and snapshots). Default: none, at no cost. */
  metrics?: ControllerMetrics;
  /**
   * Scale-out: many controller processes share the fleet, each reconciling the
   * keys of the partitions it holds a lease on (`KvSharding` from
   * `converge/nats`). A key never runs in two processes at once.
   */
  sharding?: Sharding;
  /**
   * client-go's model: one controller process is active, the others wait on
   * standby (`KvLeaderElection` from `converge/nats`). Not with `sharding`.
   */
  leaderElection?: LeaderElection;
}

export interface EnqueueOptions {
  /** Higher runs first; default 0. Lists and resyncs use -100. Waiting keys age, so none starves. */
  priority?: number;
}

export interface IdleOptions {
  /** Also wait for keys waiting out a backoff after a failure (not for periodic requeueAfter checks). */
  includeDelayed?: boolean;
}

// After its abort, a reconcile gets this long to return before its thread is replaced.
const KILL_GRACE_MS = 1_000;
const DEFAULT_WORKER_HEAP_MB = 1024;

/**
 * Runs reconcilers (Fabrica's reconcile.Controller): lifecycle and the public
 * API. The main thread owns the queue, storage, the bus and every write;
 * reconcilers run in a worker pool (registered by module URL) or inline, and
 * hand back effects applied here. The parts: Informer (storage -> queue),
 * Dispatcher (queue -> runners, one slot per reconcile), InlineRunner and
 * PooledRunner, OutcomeApplier (effects -> storage and bus), ResultPolicy
 * (outcome -> queue).
 */
export class Controller {
  readonly #bus: EventBus;
  readonly #storage: Storage;
  readonly #client: StorageClient;
  readonly #logger: Logger;
  readonly #options: ControllerOptions;
  readonly #queue: ControllerQueue;
  readonly #handles: ResourceHandles;
  readonly #registrations: Registrations;
  readonly #registering = new Set<Promise<void>>();
  readonly #counters = newCounters();
  readonly #informer: Informer;
  readonly #metrics: ControllerMetrics | undefined;
  readonly #maxConcurrent: number;
  /** Live from construction; ready once started and listed; not ready once stopping. */
  readonly health: HealthState = new HealthState();
  #phase: "new" | "starting" | "running" | "stopping" | "stopped" = "new";
  #subscription: Subscription | undefined;
  #dispatcher: Dispatcher | undefined;
  #inline: InlineRunner | undefined;
  #pooled: PooledRunner | undefined;
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  readonly #gate: PartitionGate | undefined;

  constructor(bus: EventBus, storage: Storage, options: ControllerOptions = {}) {
    // Every option validated (valibot) before anything is built; errors name the option.
    options = parseControllerOptions(options);
    this.#options = options;
    this.#bus = bus;
    this.#storage = storage;
    this.#client = new StorageClient(storage);
    this.#logger = options.logger ?? defaultLogger();
    this.#metrics = options.metrics;
    this.#maxConcurrent = options.maxConcurrentReconciles ?? 1024;
    // Keys stay interned: they are the fleet's resources, and a retained handle
    // keeps re-adds hash-free and per-handle state valid.
    const queue = new RateLimitedWorkQueue<string>(options.rateLimiter ?? defaultControllerRateLimiter<string>(), { retainKeys: true });
    this.#queue = new ControllerQueue(queue, this.#metrics);
    this.#registrations = new Registrations({
      isolation: options.isolation ?? "worker",
      logger: this.#logger,
      metricsKind: (kind) => this.#metrics?.kindIndex(kind) ?? -1,
    });
    this.#handles = new ResourceHandles((key) => queue.handleOf(key), (h, kind) => this.#onNewHandle(h, kind));
    const sharding = options.sharding ?? (options.leaderElection ? new LeaderSharding(options.leaderElection) : undefined);
    const gate = (this.#gate = sharding && this.#partitionGate(sharding));
    this.#informer = new Informer({
      storage,
      client: this.#client,
      logger: this.#logger,
      resyncMs: options.resyncPeriod ?? 0,
      garbageCollection: options.garbageCollection ?? true,
      kind: (kind) => this.#registrations.get(kind),
      kinds: () => this.#registrations.kinds(),
      handleOf: (kind, uid) => this.#handles.handleOf(kind, uid),
      knownHandle: (kind, uid) => this.#handles.knownHandle(kind, uid),
      enqueue: (h, reason, low) => this.#queue.add(h, reason, 0, low ? LOW_PRIORITY : DEFAULT_PRIORITY),
      ...(gate ? { accepts: (key: string) => gate.acceptsKey(key) } : {}),
      // A lost watch (a KV bucket deleted or wiped, a dead connection) is not-ready until a relist caught up.
      watchHealth: (healthy, reason) => {
        if (this.#phase !== "running") return;
        if (healthy) this.health.markReady();
        else this.health.markNotReady(reason);
      },
    });
  }

  #partitionGate(sharding: Sharding): PartitionGate {
    return new PartitionGate({
      sharding,
      logger: this.#logger,
      keyOf: (h) => this.#queue.keyOf(h),
      relist: (partitions) => this.#informer.relist("partition acquired", (key) => partitions.has(sharding.partitionOf(key))),
      abort: (hs, reason) => {
        this.#inline?.abort(hs, reason);
        this.#pooled?.abort(hs, reason);
      },
      forget: (partitions) => this.#informer.forget((h) => partitions.has(this.#gate!.partitionOf(h))),
      moved: (direction) => this.#metrics?.partitionHandover(direction),
    });
  }

  /**
   * Registers a reconciler: an instance (runs inline) or the URL of a module whose
   * default export is the reconciler class (runs in the worker pool, or inline
   * with `isolation: "inline"`). Before start only; start waits for it.
   */
  registerReconciler(reconciler: Reconciler | URL | string, options: RegisterOptions = {}): Promise<void> {
    if (this.#phase !== "new") {
      return Promise.reject(new ControllerStateError("registerReconciler: register every reconciler before start()"));
    }
    const registering = this.#registrations.register(reconciler, options);
    this.#registering.add(registering);
    void registering.catch(() => {}).finally(() => this.#registering.delete(registering));
    return registering;
  }

  /**
   * Starts reconciling: watches storage (the informer) and the bus, then lists
   * every registered kind and enqueues it all, so nothing written while the
   * controller was down is missed.
   */
  start(): Promise<void> {
    if (this.#phase !== "new") {
      return Promise.reject(new ControllerStateError(`start: the controller is ${this.#phase}; a controller starts once`));
    }
    this.#phase = "starting";
    this.#starting = this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    await Promise.all(this.#registering);
    if (this.#registrations.size === 0) this.#logger.warn("Starting a controller with no reconciler registered");
    const dispatcher = this.#buildDispatcher();
    const workers = this.#options.workers ?? availableParallelism();
    // The seed's line, word for word; the rest at debug.
    this.#logger.info(`Starting reconciliation controller with ${workers} workers`);
    this.#logger.debug({ maxConcurrentReconciles: this.#maxConcurrent, isolation: this.#pooled ? "worker" : "inline" }, "controller options");
    try {
      await this.#bus.start();
      this.#subscription = await this.#bus.subscribe("**", (event) => this.#onEvent(event));
      this.#metrics?.setCallbacks({
        queueDepth: () => this.#queue.raw.len(),
        delayed: () => this.#queue.raw.delayed(),
        poolUtilization: () => dispatcher.running / this.#maxConcurrent,
        ...(this.#gate
          ? { partitionsOwned: () => this.#gate!.owned(), leaseRenewFailures: () => this.#gate!.sharding.stats().renewFailures }
          : {}),
      });
      await this.#informer.start();
      // Sharded, the initial list found nothing of ours: each partition is listed as it is acquired.
      await this.#gate?.sharding.join(this.#gate);
    } catch (error) {
      this.health.markNotReady(`start failed: ${(error as Error)?.message ?? error}`);
      await this.#subscription?.unsubscribe().catch(() => {});
      await this.#pooled?.destroy();
      this.#phase = "stopped";
      throw error;
    }
    this.#phase = "running";
    this.health.markReady();
    dispatcher.start();
  }

  #buildDispatcher(): Dispatcher {
    const options = this.#options;
    const timeoutMs = options.reconcileTimeout ?? 30_000;
    const call = (op: ClientOp, args: unknown[]) => this.#clientCall(op, args);
    const policy = new ResultPolicy(this.#queue, this.#counters, this.#metrics, this.#logger);
    const applier = new OutcomeApplier({
      storage: this.#storage,
      bus: this.#bus,
      informer: this.#informer,
      queue: this.#queue,
      policy,
      counters: this.#counters,
      logger: this.#logger,
      eventSource: options.eventSource ?? "converge",
      kindInfo: (kind) => {
        const registration = this.#registrations.get(kind);
        return registration && { validated: registration.schema !== undefined };
      },
      enqueue: (kind, uid, reason, afterMs) => this.#queue.add(this.#handles.handleOf(kind, uid), reason, afterMs),
    });
    let inline: InlineRunner | undefined;
    let pooled: PooledRunner | undefined;
    const dispatcher: Dispatcher = new Dispatcher({
      queue: this.#queue,
      handles: this.#handles,
      informer: this.#informer,
      storage: this.#storage,
      applier,
      counters: this.#counters,
      logger: this.#logger,
      metrics: this.#metrics,
      maxConcurrent: this.#maxConcurrent,
      runnerOf: (kind): ReconcileRunner => (this.#registrations.get(kind)?.isolation === "worker" ? pooled! : inline!),
      invalidity: (kind, resource) => this.#registrations.invalidity(kind, resource),
      release: (h) => this.#release(h),
      ...(this.#gate ? { gate: this.#gate } : {}),
    });
    inline = new InlineRunner(
      { reconcilerOf: (kind) => this.#registrations.get(kind)!.instance!, logger: this.#logger, timeoutMs, call, abortable: this.#gate !== undefined },
      dispatcher.complete,
    );
    const modules: Record<string, string> = {};
    for (const registration of this.#registrations.values()) {
      if (registration.isolation === "worker") modules[registration.kind] = registration.url!;
    }
    if (Object.keys(modules).length > 0) {
      pooled = new PooledRunner(
        {
          filename: options.workerFile ?? defaultWorkerFile(),
          threads: options.workers ?? availableParallelism(),
          timeoutMs,
          killAfterMs: timeoutMs + KILL_GRACE_MS,
          logLevel: options.workerLogLevel ?? "info",
          maxBatch: options.maxBatch ?? 256,
          resourceLimits: options.workerResourceLimits ?? { maxOldGenerationSizeMb: DEFAULT_WORKER_HEAP_MB },
          modules,
          logger: this.#logger,
          call,
        },
        dispatcher.complete,
      );
    }
    this.#inline = inline;
    this.#pooled = pooled;
    this.#dispatcher = dispatcher;
    return dispatcher;
  }

  /**
   * Drains: reconciles in flight finish and their effects are applied; nothing
   * new starts. Queued keys are not lost — they are in storage, and the next
   * start lists them again.
   */
  async stop(): Promise<void> {
    if (this.#phase === "new") {
      this.#phase = "stopped";
      return;
    }
    // Every later call shares the first one's drain.
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    await this.#starting?.catch(() => {});
    if (this.#phase === "stopped") return; // start failed and cleaned up
    this.#phase = "stopping";
    this.health.markNotReady("stopping");
    await this.#informer.stop();
    const subscription = this.#subscription;
    this.#subscription = undefined;
    await subscription?.unsubscribe().catch((error) => this.#logger.warn({ err: error }, "unsubscribing from the bus failed"));
    // Hand every partition over cleanly: its running reconciles finish first.
    this.#gate?.close();
    await this.#gate?.sharding.leave().catch((error) => this.#logger.warn({ err: error }, "leaving the shard group failed"));
    this.#queue.raw.shutDown();
    await this.#dispatcher?.stop();
    await this.#inline?.close();
    await this.#pooled?.close();
    this.#phase = "stopped";
    this.health.markNotReady("stopped");
    this.#logger.info("Stopped reconciliation controller");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /**
   * Reconciles `request` as soon as a slot is free (Fabrica's Enqueue).
   * `priority`: higher runs first (default 0; lists and resyncs use -100); a
   * waiting key is served within about a second whatever its priority.
   */
  enqueue(request: ReconcileRequest, options: EnqueueOptions = {}): void {
    this.enqueueAfter(request, 0, options);
  }

  /** Reconciles `request` after `delayMs`; the earliest pending time wins. */
  enqueueAfter(request: ReconcileRequest, delayMs: number, options: EnqueueOptions = {}): void {
    const kind = assertKind(request?.resourceKind, "request.resourceKind");
    const uid = assertUid(request.resourceUid, "request.resourceUid");
    if (!this.#registrations.has(kind)) {
      throw new ValidationError("request.resourceKind", `no reconciler is registered for kind ${kind}`);
    }
    if (typeof delayMs !== "number" || !Number.isFinite(delayMs) || delayMs < 0) {
      throw new ValidationError("delayMs", `must be a finite number of ms >= 0, got ${String(delayMs)}`);
    }
    const priority = options.priority ?? DEFAULT_PRIORITY;
    if (!Number.isInteger(priority) || Math.abs(priority) > MAX_PRIORITY) {
      throw new ValidationError("options.priority", `must be an integer in -${MAX_PRIORITY}..${MAX_PRIORITY}, got ${String(priority)}`);
    }
    if (this.#gate !== undefined && !this.#gate.acceptsKey(`${kind}/${uid}`)) {
      // Another process holds its partition; it reconciles the key on every change it sees.
      this.#logger.debug({ kind, uid }, "enqueue ignored: another process holds the key's partition");
      return;
    }
    this.#queue.add(this.#handles.handleOf(kind, uid), request.reason, delayMs, priority);
  }

  /**
   * Resolves once nothing is queued or being reconciled. Delayed keys do not
   * count, unless `includeDelayed`: then keys waiting out a backoff do too
   * (periodic requeueAfter checks never do). Lets watch and bus deliveries land first.
   */
  async idle(options: IdleOptions = {}): Promise<void> {
    const includeDelayed = options.includeDelayed === true;
    for (;;) {
      await nextTurn();
      if (this.#isIdle(includeDelayed)) {
        await nextTurn();
        if (this.#isIdle(includeDelayed)) return;
      }
      if (this.#queue.raw.len() === 0 && this.#queue.raw.processing() === 0) await this.#queue.backoffChanged();
      else await this.#queue.raw.whenIdle();
    }
  }

  stats(): ControllerStats & { sharding?: ShardingStats } {
    return {
      ...this.#counters,
      ...(this.#gate ? { sharding: this.#gate.sharding.stats() } : {}),
      threadsReplaced: this.#pooled?.threadsReplaced ?? 0,
      queueDepth: this.#queue.raw.len(),
      processing: this.#queue.raw.processing(),
      delayed: this.#queue.raw.delayed(),
      running: this.#dispatcher?.running ?? 0,
    };
  }

  /** The registered kinds. */
  kinds(): string[] {
    return [...this.#registrations.kinds()];
  }

  #isIdle(includeDelayed: boolean): boolean {
    const queue = this.#queue.raw;
    return queue.len() === 0 && queue.processing() === 0 && (!includeDelayed || this.#queue.inBackoff() === 0);
  }

  /** A handle given to a resource: its per-handle state must exist. */
  #onNewHandle(h: number, kind: string): void {
    this.#queue.ensure(h);
    if (this.#metrics) this.#metrics.bind(h, this.#registrations.get(kind)?.metricsKind ?? this.#metrics.kindIndex(kind));
  }

  /** A deleted resource gives its handle back, unless it is wanted again already. */
  #release(h: number): void {
    if (this.#queue.raw.release(this.#queue.keyOf(h))) {
      this.#queue.reset(h);
      this.#gate?.reset(h);
      this.#informer.release(h);
      this.#handles.release(h);
    }
  }

  #onEvent(event: CloudEvent): void {
    const kind = event.resourcekind;
    const uid = event.resourceuid;
    if (kind === undefined || uid === undefined || !this.#registrations.has(kind)) return;
    // An event a reconcile emitted about its own resource must not trigger it again.
    if (event.reconcilekey === `${kind}/${uid}`) return;
    // Scale-out: every process sees every event; the key's holder acts on it.
    if (this.#gate !== undefined && !this.#gate.acceptsKey(`${kind}/${uid}`)) return;
    this.#queue.add(this.#handles.handleOf(kind, uid), event.type);
  }

  async #clientCall(op: ClientOp, args: unknown[]): Promise<unknown> {
    switch (op) {
      case "get":
        return this.#client.get(String(args[0]), String(args[1]));
      case "list":
        return this.#client.list(String(args[0]));
      case "create":
        return this.#client.create(args[0] as Resource);
      case "update":
        return this.#client.update(args[0] as Resource);
      case "delete":
        return this.#client.delete(String(args[0]), String(args[1]));
      default:
        throw new ValidationError("client op", `unknown operation ${JSON.stringify(op)}`);
    }
  }
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => (typeof setImmediate === "function" ? setImmediate(resolve) : setTimeout(resolve, 0)));
}
