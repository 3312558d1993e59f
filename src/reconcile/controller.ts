import { availableParallelism } from "node:os";
import { dequal } from "dequal";
import * as v from "valibot";
import { ValidationError } from "../codec/errors.js";
import { deepCopy } from "../codec/deep-copy.js";
import { assertKind, assertUid } from "../codec/names.js";
import type { CloudEvent } from "../events/cloud-event.js";
import type { EventBus, Subscription } from "../events/event-bus.js";
import { newResourceEvent } from "../events/resource-event.js";
import { ReconcilePool, type BatchFailure } from "../pool/reconcile-pool.js";
import type { BatchItem, ClientOp, ItemOutcome, WireError } from "../pool/protocol.js";
import { toWireError } from "../pool/protocol.js";
import { defaultWorkerFile } from "../pool/worker-file.js";
import { defaultControllerRateLimiter } from "../queue/default-rate-limiter.js";
import { RateLimitedWorkQueue } from "../queue/rate-limited-work-queue.js";
import { DEFAULT_PRIORITY, LOW_PRIORITY, MAX_PRIORITY } from "../queue/priority.js";
import type { RateLimiter } from "../queue/rate-limiter.js";
import { ConflictError } from "../storage/errors.js";
import type { Resource } from "../storage/resource.js";
import type { Storage } from "../storage/storage.js";
import { parseControllerOptions } from "./controller-options.js";
import { conditionsOf, setCondition, type Condition } from "./conditions.js";
import { ControllerStateError, ReconcileTimeoutError, RegistrationError, WorkerCrashError } from "./errors.js";
import { HandleState } from "./handle-state.js";
import { ResourceHandles } from "./resource-handles.js";
import { Informer } from "./informer.js";
import { ControllerMetrics, reconcileOutcome } from "../metrics/metrics.js";
import { HealthState } from "../metrics/metrics-health.js";
import { defaultLogger, type Logger } from "./logger.js";
import type { ReconcileRequest, Reconciler } from "./reconciler.js";
import { checkReconciler, loadReconcilerModule } from "./reconciler-module.js";
import { runReconcile } from "./run-reconcile.js";
import { StorageClient } from "./storage-client.js";

export type Isolation = "worker" | "inline";

export interface ControllerOptions {
  /** Worker threads (worker isolation) or concurrent batches (inline). Default: CPU count. */
  workers?: number;
  /** Where reconcilers registered by URL run. Instances always run inline. Default "worker". */
  isolation?: Isolation;
  /** Backoff for failed keys, keyed `kind/uid`. Default: exponential 5 ms .. 1000 s. */
  rateLimiter?: RateLimiter<string>;
  /** A reconcile running longer is aborted and retried with backoff. Default 30 000 ms. */
  reconcileTimeout?: number;
  /** Most keys sent to a worker in one message; batches shrink when the queue is short. Default 256. */
  maxBatch?: number;
  logger?: Logger;
  /** Lowest level forwarded from workers' loggers. Default "info". */
  workerLogLevel?: "debug" | "info" | "warn" | "error" | "silent";
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
}

export interface RegisterOptions {
  /** The kind, so a module registered by URL need not be imported on the main thread. */
  kind?: string;
  /** Overrides the controller's isolation for a module registered by URL. */
  isolation?: Isolation;
  /**
   * A valibot schema for this kind's resources. An invalid one is not
   * reconciled: it gets condition Valid=False with the reason, and is not
   * retried until it changes.
   */
  schema?: v.GenericSchema;
  /**
   * Skip storage changes that leave metadata.generation unchanged (status-only
   * writes), as controller-runtime's GenerationChangedPredicate. Default true;
   * false reconciles on every change.
   */
  generationChangedPredicate?: boolean;
}

export interface EnqueueOptions {
  /** Higher runs first; default 0. Lists and resyncs use -100. Waiting keys age, so none starves. */
  priority?: number;
}

/** Counters since start; a snapshot. */
export interface ControllerStats {
  reconciles: number;
  succeeded: number;
  /** Transient failures (thrown errors), retried with backoff. */
  failed: number;
  terminal: number;
  timeouts: number;
  crashes: number;
  requeued: number;
  conflicts: number;
  statusWrites: number;
  statusUnchanged: number;
  eventsEmitted: number;
  /** Keys skipped because their resource no longer exists. */
  missing: number;
  /** Resources that failed their kind's schema (not reconciled). */
  invalid: number;
  /** Resources deleted after their last finalizer was removed. */
  deletes: number;
  queueDepth: number;
  processing: number;
  delayed: number;
}

interface Registration {
  kind: string;
  isolation: Isolation;
  url?: string;
  instance?: Reconciler;
  schema?: v.GenericSchema;
  generationChangedPredicate: boolean;
  /** The kind's index in the metrics' kind label. */
  metricsKind: number;
}

/** A key being reconciled, with the resource as it was read (never handed to user code). */
interface Job {
  h: number;
  kind: string;
  uid: string;
  loaded: Resource;
}

const KILL_GRACE_MS = 1_000;
/** Set by the controller: False after a TerminalError, True again after the next success. */
const RECONCILED = "Reconciled";
/** Set by the controller for kinds registered with a schema. */
const VALID = "Valid";

/**
 * Runs reconcilers (Fabrica's reconcile.Controller). The main thread owns the
 * queue, storage, the bus and every write; reconcilers run in a worker pool
 * (registered by module URL) or inline, and hand back effects applied here.
 */
export class Controller {
  readonly #bus: EventBus;
  readonly #storage: Storage;
  readonly #client: StorageClient;
  readonly #logger: Logger;
  readonly #workers: number;
  readonly #isolation: Isolation;
  readonly #timeoutMs: number;
  readonly #maxBatch: number;
  readonly #workerLogLevel: string;
  readonly #eventSource: string;
  readonly #workerFile: string | undefined;
  readonly #queue: RateLimitedWorkQueue<string>;
  readonly #handles: ResourceHandles;
  readonly #state = new HandleState();
  readonly #kinds = new Map<string, Registration>();
  readonly #registering = new Set<Promise<void>>();
  readonly #inflight = new Set<Promise<void>>();
  readonly #stats = {
    reconciles: 0, succeeded: 0, failed: 0, terminal: 0, timeouts: 0, crashes: 0, requeued: 0,
    conflicts: 0, statusWrites: 0, statusUnchanged: 0, eventsEmitted: 0, missing: 0, invalid: 0, deletes: 0,
  };
  #pool: ReconcilePool | undefined;
  #phase: "new" | "starting" | "running" | "stopping" | "stopped" = "new";
  #subscription: Subscription | undefined;
  #dispatchDone: Promise<void> | undefined;
  #slots = 0;
  #slotFreed: (() => void) | undefined;
  readonly #informer: Informer;
  readonly #metrics: ControllerMetrics | undefined;
  /** Live from construction; ready once started and listed; not ready once stopping. */
  readonly health: HealthState = new HealthState();
  #maxSlots = 1;
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;

  constructor(bus: EventBus, storage: Storage, options: ControllerOptions = {}) {
    // Every option validated (valibot) before anything is built; errors name the option.
    options = parseControllerOptions(options);
    this.#bus = bus;
    this.#storage = storage;
    this.#client = new StorageClient(storage);
    this.#logger = options.logger ?? defaultLogger();
    this.#workers = options.workers ?? availableParallelism();
    this.#isolation = options.isolation ?? "worker";
    this.#timeoutMs = options.reconcileTimeout ?? 30_000;
    this.#maxBatch = options.maxBatch ?? 256;
    this.#workerLogLevel = options.workerLogLevel ?? "info";
    this.#eventSource = options.eventSource ?? "converge";
    this.#workerFile = options.workerFile;
    this.#metrics = options.metrics;
    // Keys stay interned: they are the fleet's resources, and a retained handle
    // keeps re-adds hash-free and per-handle state valid.
    this.#queue = new RateLimitedWorkQueue<string>(options.rateLimiter ?? defaultControllerRateLimiter<string>(), { retainKeys: true });
    this.#handles = new ResourceHandles((key) => this.#queue.handleOf(key), (h, kind) => this.#onNewHandle(h, kind));
    this.#informer = new Informer({
      storage,
      client: this.#client,
      logger: this.#logger,
      resyncMs: options.resyncPeriod ?? 0,
      garbageCollection: options.garbageCollection ?? true,
      kind: (kind) => this.#kinds.get(kind),
      kinds: () => this.#kinds.keys(),
      handleOf: (kind, uid) => this.#handleOf(kind, uid),
      enqueue: (h, reason, low) => this.#addHandle(h, reason, 0, low ? LOW_PRIORITY : DEFAULT_PRIORITY),
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
    const registering = this.#register(reconciler, options);
    this.#registering.add(registering);
    void registering.catch(() => {}).finally(() => this.#registering.delete(registering));
    return registering;
  }

  async #register(reconciler: Reconciler | URL | string, options: RegisterOptions): Promise<void> {
    const { schema, generationChangedPredicate = true } = options;
    if (schema !== undefined && (typeof schema !== "object" || schema === null || (schema as { kind?: unknown }).kind !== "schema")) {
      throw new ValidationError("options.schema", "must be a valibot schema");
    }
    if (typeof generationChangedPredicate !== "boolean") {
      throw new ValidationError("options.generationChangedPredicate", `must be true or false, got ${String(generationChangedPredicate)}`);
    }
    let registration: Omit<Registration, "generationChangedPredicate" | "metricsKind">;
    if (typeof reconciler === "string" || reconciler instanceof URL) {
      const url = String(reconciler);
      const isolation = options.isolation ?? this.#isolation;
      if (isolation === "inline" || options.kind === undefined) {
        const instance = await loadReconcilerModule(url);
        if (options.kind !== undefined && options.kind !== instance.resourceKind) {
          throw new RegistrationError(`${url}: options.kind ${options.kind} differs from its resourceKind ${instance.resourceKind}`);
        }
        registration = isolation === "inline"
          ? { kind: instance.resourceKind, isolation, instance }
          : { kind: instance.resourceKind, isolation, url };
        if (isolation === "inline") this.#wire(instance);
      } else {
        registration = { kind: assertKind(options.kind, "options.kind"), isolation, url };
      }
    } else {
      const instance = checkReconciler(reconciler, "registerReconciler argument");
      this.#wire(instance);
      registration = { kind: instance.resourceKind, isolation: "inline", instance };
    }
    if (this.#kinds.has(registration.kind)) {
      throw new RegistrationError(`a reconciler for kind ${registration.kind} is registered already`);
    }
    const metricsKind = this.#metrics?.kindIndex(registration.kind) ?? -1;
    this.#kinds.set(
      registration.kind,
      schema === undefined
        ? { ...registration, generationChangedPredicate, metricsKind }
        : { ...registration, schema, generationChangedPredicate, metricsKind },
    );
    this.#logger.info(`Registered reconciler for ${registration.kind}`);
  }

  #wire(instance: Reconciler): void {
    const target = instance as { logger?: Logger };
    if ("logger" in target) target.logger = this.#logger;
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
    if (this.#kinds.size === 0) this.#logger.warn("Starting a controller with no reconciler registered");
    if ([...this.#kinds.values()].some((r) => r.isolation === "worker")) {
      this.#pool = new ReconcilePool({
        filename: this.#workerFile ?? defaultWorkerFile(),
        threads: this.#workers,
        concurrentTasksPerWorker: 2,
        onError: (error) => this.#logger.error("reconcile pool error:", error),
      });
    }
    this.#logger.info(`Starting reconciliation controller with ${this.#workers} workers`);
    try {
      await this.#bus.start();
      this.#subscription = await this.#bus.subscribe("**", (event) => this.#onEvent(event));
      this.#metrics?.setCallbacks({
        queueDepth: () => this.#queue.len(),
        delayed: () => this.#queue.delayed(),
        poolUtilization: () => this.#slots / this.#maxSlots,
      });
      await this.#informer.start();
    } catch (error) {
      this.health.markNotReady(`start failed: ${(error as Error)?.message ?? error}`);
      await this.#subscription?.unsubscribe().catch(() => {});
      await this.#pool?.destroy();
      this.#phase = "stopped";
      throw error;
    }
    this.#phase = "running";
    this.health.markReady();
    this.#dispatchDone = this.#dispatchLoop();
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
    await subscription?.unsubscribe().catch((error) => this.#logger.warn("unsubscribe failed:", error));
    this.#queue.shutDown();
    this.#slotFreed?.();
    await this.#dispatchDone;
    await Promise.all(this.#inflight);
    await this.#pool?.close();
    this.#phase = "stopped";
    this.health.markNotReady("stopped");
    this.#logger.info("Stopped reconciliation controller");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /**
   * Reconciles `request` as soon as a worker is free (Fabrica's Enqueue).
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
    if (!this.#kinds.has(kind)) {
      throw new ValidationError("request.resourceKind", `no reconciler is registered for kind ${kind}`);
    }
    if (typeof delayMs !== "number" || !Number.isFinite(delayMs) || delayMs < 0) {
      throw new ValidationError("delayMs", `must be a finite number of ms >= 0, got ${String(delayMs)}`);
    }
    const priority = options.priority ?? DEFAULT_PRIORITY;
    if (!Number.isInteger(priority) || Math.abs(priority) > MAX_PRIORITY) {
      throw new ValidationError("options.priority", `must be an integer in -${MAX_PRIORITY}..${MAX_PRIORITY}, got ${String(priority)}`);
    }
    this.#addHandle(this.#handleOf(kind, uid), request.reason, delayMs, priority);
  }

  /**
   * Resolves once nothing is queued or being reconciled (delayed keys, such as
   * periodic requeues, do not count). Lets watch and bus deliveries land first.
   */
  async idle(): Promise<void> {
    for (;;) {
      await nextTurn();
      if (this.#isIdle()) {
        await nextTurn();
        if (this.#isIdle()) return;
      }
      await this.#queue.whenIdle();
    }
  }

  stats(): ControllerStats {
    return {
      ...this.#stats,
      queueDepth: this.#queue.len(),
      processing: this.#queue.processing(),
      delayed: this.#queue.delayed(),
    };
  }

  /** The registered kinds. */
  kinds(): string[] {
    return [...this.#kinds.keys()];
  }

  #isIdle(): boolean {
    return this.#queue.len() === 0 && this.#queue.processing() === 0;
  }

  #handleOf(kind: string, uid: string): number {
    return this.#handles.handleOf(kind, uid);
  }

  /** A handle given to a resource: its per-handle state must exist. */
  #onNewHandle(h: number, kind: string): void {
    this.#state.ensure(h);
    if (this.#metrics) this.#metrics.bind(h, this.#kinds.get(kind)?.metricsKind ?? this.#metrics.kindIndex(kind));
  }

  #addHandle(h: number, reason: string | undefined, delayMs = 0, priority = DEFAULT_PRIORITY): void {
    this.#state.reason[h] = reason;
    this.#enqueue(h, delayMs, priority);
  }

  /** Every add goes through here, so metrics see each one. */
  #enqueue(h: number, delayMs: number, priority: number): void {
    if (delayMs > 0) {
      this.#metrics?.addedAfter(h, delayMs);
      this.#queue.addAfterHandle(h, delayMs, priority);
    } else {
      this.#metrics?.added(h);
      this.#queue.addHandle(h, priority);
    }
  }

  /** Every done goes through here. */
  #done(h: number): void {
    this.#metrics?.done(h);
    this.#queue.doneHandle(h);
  }

  #add(kind: string, uid: string, reason: string | undefined, delayMs = 0): void {
    this.#addHandle(this.#handleOf(kind, uid), reason, delayMs);
  }

  /** A requeue keeps the priority the key was served at (controller-runtime's rule). */
  #requeue(h: number, delayMs = 0): void {
    this.#enqueue(h, delayMs, this.#state.priority[h]);
  }

  #onEvent(event: CloudEvent): void {
    const kind = event.resourcekind;
    const uid = event.resourceuid;
    if (kind === undefined || uid === undefined || !this.#kinds.has(kind)) return;
    // An event a reconcile emitted about its own resource must not trigger it again.
    if (event.reconcilekey === `${kind}/${uid}`) return;
    this.#add(kind, uid, event.type);
  }

  async #dispatchLoop(): Promise<void> {
    const perSlot = this.#pool ? 2 : 1;
    const maxSlots = (this.#maxSlots = this.#workers * perSlot);
    for (;;) {
      while (this.#slots >= maxSlots && this.#phase === "running") {
        await new Promise<void>((resolve) => (this.#slotFreed = resolve));
      }
      const first = await this.#queue.getHandle();
      if (first === undefined) return;
      const now = this.#metrics?.now();
      this.#metrics?.dequeued(first, now);
      if (this.#phase !== "running") {
        // Shutting down: queued keys are not started (they are still in storage).
        this.#done(first);
        continue;
      }
      const size = Math.min(this.#maxBatch, Math.max(1, Math.ceil((this.#queue.len() + 1) / this.#workers)));
      const handles = [first];
      this.#state.priority[first] = this.#queue.servedPriorityOfHandle(first) ?? DEFAULT_PRIORITY;
      while (handles.length < size) {
        const h = this.#queue.tryGetHandle();
        if (h < 0) break;
        this.#metrics?.dequeued(h, now);
        this.#state.priority[h] = this.#queue.servedPriorityOfHandle(h) ?? DEFAULT_PRIORITY;
        handles.push(h);
      }
      this.#slots++;
      const batch = this.#runBatch(handles).finally(() => {
        this.#slots--;
        this.#inflight.delete(batch);
        const freed = this.#slotFreed;
        this.#slotFreed = undefined;
        freed?.();
      });
      this.#inflight.add(batch);
    }
  }

  async #runBatch(handles: number[]): Promise<void> {
    const jobs: Job[] = [];
    const pending: Promise<void>[] = [];
    for (const h of handles) {
      const kind = this.#handles.kindOf(h);
      const uid = this.#handles.uidOf(h);
      // The informer cache (fed by list and watch) saves a read per reconcile; a
      // stale entry costs only a CAS conflict, after which the key reads storage.
      const cached = this.#informer.cached(h);
      // Synchronous for a cached key: no async frame or turn per key on the hot path.
      const settling = cached === undefined ? this.#loadJob(jobs, h, kind, uid) : this.#admit(jobs, { h, kind, uid, loaded: cached });
      if (settling) pending.push(settling);
    }
    if (pending.length > 0) await Promise.all(pending);
    const inline: Job[] = [];
    const pooled: Job[] = [];
    for (const job of jobs) {
      const registration = this.#kinds.get(job.kind);
      if (registration?.isolation === "worker") pooled.push(job);
      else inline.push(job);
    }
    await Promise.all([this.#runInline(inline), this.#runPooled(pooled)]);
  }

  /** Adds `job` to the batch, or settles it as invalid (the promise returned). */
  #admit(jobs: Job[], job: Job): Promise<void> | undefined {
    const problem = this.#invalidity(job.kind, job.loaded);
    if (problem !== undefined) return this.#completeInvalid(job, problem);
    jobs.push(job);
    return undefined;
  }

  /** A key the cache does not hold: read it, then admit it (or settle a failed read or a deleted resource). */
  async #loadJob(jobs: Job[], h: number, kind: string, uid: string): Promise<void> {
    const key = `${kind}/${uid}`;
    let loaded: Resource | undefined;
    try {
      loaded = await this.#storage.load(kind, uid);
    } catch (error) {
      this.#logger.error(`${key}: loading failed, will retry:`, error);
      this.#retry(h, key);
      this.#done(h);
      return;
    }
    if (loaded === undefined) {
      this.#stats.missing++;
      this.#forget(h, key);
      this.#done(h);
      // A deleted resource gives its handle back, unless it is wanted again already.
      if (this.#queue.release(key)) {
        this.#state.reset(h);
        this.#informer.release(h);
        this.#handles.release(h);
      }
      return;
    }
    await this.#admit(jobs, { h, kind, uid, loaded });
  }

  #item(job: Job, resource: unknown): BatchItem {
    const reason = this.#state.reason[job.h];
    const attempt = this.#state.failed[job.h] === 1 ? this.#queue.numRequeues(`${job.kind}/${job.uid}`) + 1 : 1;
    return reason === undefined
      ? { h: job.h, kind: job.kind, uid: job.uid, attempt, resource }
      : { h: job.h, kind: job.kind, uid: job.uid, attempt, reason, resource };
  }

  async #runInline(jobs: Job[]): Promise<void> {
    if (jobs.length === 0) return;
    // The batch's keys start together, so they share one deadline: one timer, one signal.
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new ReconcileTimeoutError("batch", this.#timeoutMs)), this.#timeoutMs);
    const call = (op: ClientOp, args: unknown[]) => this.#clientCall(op, args);
    try {
      await Promise.all(
        jobs.map(async (job) => {
          const reconciler = this.#kinds.get(job.kind)!.instance!;
          // The reconcile may mutate its copy; `loaded` stays as read, for CAS and diffing.
          const item = this.#item(job, deepCopy(job.loaded));
          const outcome = await runReconcile(reconciler, item, { logger: this.#logger, signal: abort.signal, call });
          await this.#complete(job, outcome);
        }),
      );
    } finally {
      clearTimeout(timer);
    }
  }

  async #runPooled(jobs: Job[]): Promise<void> {
    if (jobs.length === 0) return;
    const open = new Map<number, Job>();
    const modules: Record<string, string> = {};
    const items = jobs.map((job) => {
      open.set(job.h, job);
      modules[job.kind] ??= this.#kinds.get(job.kind)!.url!;
      return this.#item(job, job.loaded);
    });
    const completing: Promise<void>[] = [];
    const failure: BatchFailure | undefined = await this.#pool!.runBatch(
      { modules, items, timeoutMs: this.#timeoutMs, logLevel: this.#workerLogLevel, killAfterMs: this.#timeoutMs + KILL_GRACE_MS },
      {
        onOutcomes: (outcomes) => {
          for (const outcome of outcomes) {
            const job = open.get(outcome.h);
            if (!job) continue;
            open.delete(outcome.h);
            completing.push(this.#complete(job, outcome));
          }
        },
        onLog: (level, message, args) => this.#logger[level](message, ...args),
        onCall: (op, args) => this.#clientCall(op, args),
      },
    );
    if (failure) {
      // Every key the dead worker had not finished is retried with backoff: none is lost.
      for (const job of open.values()) {
        const key = `${job.kind}/${job.uid}`;
        const error = failure.killed ? new ReconcileTimeoutError(key, this.#timeoutMs) : new WorkerCrashError(key, failure.error);
        completing.push(this.#complete(job, { h: job.h, ms: 0, error: toWireError(error) }));
      }
      open.clear();
      if (!failure.killed) this.#logger.error("reconcile worker died; its unfinished keys will be retried:", failure.error);
    }
    await Promise.all(completing);
  }

  /** Applies one reconcile's effects and result, then releases its key. Never throws. */
  async #complete(job: Job, outcome: ItemOutcome): Promise<void> {
    const { h, kind, uid } = job;
    const key = `${kind}/${uid}`;
    let error: WireError | undefined = outcome.error;
    let conflict = false;
    try {
      this.#stats.reconciles++;
      const next = this.#nextResource(job, outcome);
      if (next !== undefined) {
        const written = await this.#write(job, next);
        if (written === "conflict") conflict = true;
        else if (written instanceof Error) error ??= toWireError(written);
      }
      const effects = outcome.effects;
      if (effects?.events) for (const event of effects.events) {
        try {
          const emitted = newResourceEvent(event.type, event.kind, event.uid, event.data, { source: this.#eventSource });
          emitted.reconcilekey = key;
          await this.#bus.publish(emitted);
          this.#stats.eventsEmitted++;
          this.#logger.info(`Emitted event ${event.type} for ${event.kind}/${event.uid}`);
        } catch (publishError) {
          this.#logger.error(`${key}: publishing ${event.type} failed, will retry the reconcile:`, publishError);
          error ??= toWireError(publishError);
        }
      }
      if (effects?.enqueues) for (const enqueue of effects.enqueues) {
        if (!this.#kinds.has(enqueue.kind)) {
          this.#logger.warn(`${key}: enqueue of ${enqueue.kind}/${enqueue.uid} ignored: no reconciler for kind ${enqueue.kind}`);
          continue;
        }
        this.#add(enqueue.kind, enqueue.uid, enqueue.reason ?? `enqueued by ${key}`, enqueue.afterMs);
      }
      this.#metrics?.reconciled(h, reconcileOutcome(error ? { ...outcome, error } : outcome, conflict), outcome.ms > 0 ? outcome.ms : undefined);
      this.#settle(h, key, outcome, error, conflict);
    } catch (unexpected) {
      this.#metrics?.reconciled(h, "error");
      this.#logger.error(`${key}: applying the reconcile's outcome failed, will retry:`, unexpected);
      this.#retry(h, key);
    } finally {
      this.#done(h);
    }
  }

  /**
   * What the reconcile's outcome makes of the resource: a new value (status,
   * conditions, finalizers), "delete" (its last finalizer went while it is
   * being deleted), or undefined when nothing changes — an equal status is
   * never written, so periodic resyncs cost no writes.
   */
  #nextResource(job: Job, outcome: ItemOutcome): Resource | "delete" | undefined {
    const { loaded } = job;
    const finalizers = outcome.effects?.finalizers;
    const remaining = finalizers ?? loaded.metadata?.finalizers ?? [];
    if (loaded.metadata?.deletedAt !== undefined && remaining.length === 0) return "delete";
    const status = this.#nextStatus(job, outcome);
    const statusChanged = status !== undefined && !dequal(status.value, loaded.status);
    const finalizersChanged = finalizers !== undefined && !dequal(finalizers, loaded.metadata?.finalizers ?? []);
    if (status !== undefined && !statusChanged) this.#stats.statusUnchanged++;
    if (!statusChanged && !finalizersChanged) return undefined;
    const next: Resource = { ...loaded };
    if (statusChanged) {
      if (status.value === undefined) delete next.status;
      else next.status = status.value;
    }
    if (finalizersChanged) next.metadata = { ...loaded.metadata, finalizers };
    return next;
  }

  /** The status to write, or undefined when nothing asks for one. */
  #nextStatus(job: Job, outcome: ItemOutcome): { value: unknown } | undefined {
    const effects = outcome.effects;
    const loaded = job.loaded.status;
    const validated = this.#kinds.get(job.kind)?.schema !== undefined;
    let value: unknown;
    if (effects?.status) value = effects.status.value;
    else if (effects?.conditions) value = { ...(isObject(loaded) ? loaded : {}), conditions: effects.conditions };
    else if (outcome.error?.terminal || hasFalseCondition(loaded, RECONCILED) || (validated && hasFalseCondition(loaded, VALID))) {
      value = loaded === undefined ? undefined : deepCopy(loaded);
    } else return undefined;
    if (outcome.error?.terminal) {
      value = withCondition(value, job, RECONCILED, "False", outcome.error.reason ?? "TerminalError", outcome.error.message);
    } else if (!outcome.error && hasFalseCondition(value, RECONCILED)) {
      value = withCondition(value, job, RECONCILED, "True", "Succeeded", "reconciled");
    }
    // Only a valid resource gets this far: a Valid=False from before is over.
    if (validated && hasFalseCondition(value, VALID)) value = withCondition(value, job, VALID, "True", "Valid", "the resource matches its schema");
    return { value };
  }

  /** Writes `next` with compare-and-swap on the revision the reconcile read. */
  async #write(job: Job, next: Resource | "delete"): Promise<"written" | "conflict" | Error> {
    const { h, kind, uid, loaded } = job;
    const expectedRevision = loaded.metadata?.revision ?? 0;
    let written: Resource | undefined;
    this.#informer.beginWrite(h);
    try {
      if (next === "delete") {
        await this.#storage.delete(kind, uid, { expectedRevision });
        this.#stats.deletes++;
      } else {
        const revision = await this.#storage.save(kind, uid, next, { expectedRevision });
        // `next` is ours (built by #nextResource; storage keeps a copy): it becomes the cached value.
        next.metadata = { ...next.metadata, revision };
        written = next;
        this.#stats.statusWrites++;
      }
      return "written";
    } catch (error) {
      if (error instanceof ConflictError) {
        this.#stats.conflicts++;
        return "conflict";
      }
      this.#logger.error(`${kind}/${uid}: writing the reconcile's result failed, will retry:`, error);
      return error instanceof Error ? error : new Error(String(error));
    } finally {
      // Someone else's change seen during the write is a real change: reconcile again.
      if (this.#informer.endWrite(h, written)) this.#requeue(h);
    }
  }

  /** Why `resource` fails its kind's schema, or undefined when it passes (or there is none). */
  #invalidity(kind: string, resource: Resource): string | undefined {
    const schema = this.#kinds.get(kind)?.schema;
    if (schema === undefined) return undefined;
    const result = v.safeParse(schema, resource);
    if (result.success) return undefined;
    const issue = result.issues[0];
    const path = issue.path?.map((p) => String(p.key)).join(".");
    return path ? `${path}: ${issue.message}` : issue.message;
  }

  /** An invalid resource: condition Valid=False, no reconcile, no retry until it changes. */
  async #completeInvalid(job: Job, problem: string): Promise<void> {
    const key = `${job.kind}/${job.uid}`;
    try {
      this.#stats.invalid++;
      this.#forget(job.h, key);
      const status = withCondition(job.loaded.status, job, VALID, "False", "InvalidResource", problem);
      if (dequal(status, job.loaded.status)) return;
      this.#logger.warn(`${key}: invalid, not reconciled until it changes: ${problem}`);
      if ((await this.#write(job, { ...job.loaded, status })) === "conflict") this.#requeue(job.h);
    } catch (error) {
      this.#logger.error(`${key}: recording its invalidity failed, will retry:`, error);
      this.#retry(job.h, key);
    } finally {
      this.#done(job.h);
    }
  }

  /** Result handling, controller-runtime's rules. */
  #settle(h: number, key: string, outcome: ItemOutcome, error: WireError | undefined, conflict: boolean): void {
    if (conflict) {
      // The resource changed under the reconcile: run it again now, on fresh data, without backoff.
      this.#requeue(h);
      return;
    }
    if (error) {
      if (error.terminal) {
        this.#stats.terminal++;
        this.#forget(h, key);
        this.#logger.error(`${key}: terminal error, not retried until it changes: ${error.message}`);
        return;
      }
      if (error.code === "ERR_RECONCILE_TIMEOUT") this.#stats.timeouts++;
      else if (error.code === "ERR_WORKER_CRASH") this.#stats.crashes++;
      else this.#stats.failed++;
      this.#logger.warn(`${key}: reconcile failed (attempt ${this.#attempt(h, key)}), retrying with backoff: ${error.message}`);
      this.#retry(h, key);
      return;
    }
    this.#stats.succeeded++;
    if (outcome.requeueAfter !== undefined && outcome.requeueAfter > 0) {
      this.#forget(h, key);
      this.#stats.requeued++;
      this.#requeue(h, outcome.requeueAfter);
    } else if (outcome.requeue) {
      this.#stats.requeued++;
      this.#retry(h, key);
    } else {
      this.#forget(h, key);
    }
  }

  #attempt(h: number, key: string): number {
    return this.#state.failed[h] === 1 ? this.#queue.numRequeues(key) + 1 : 1;
  }

  #retry(h: number, key: string): void {
    this.#state.failed[h] = 1;
    const delayMs = this.#queue.addRateLimited(key, { priority: this.#state.priority[h] });
    if (delayMs >= 0) this.#metrics?.retried(h, delayMs);
  }

  #forget(h: number, key: string): void {
    if (this.#state.failed[h] === 0) return;
    this.#state.failed[h] = 0;
    this.#queue.forget(key);
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

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function hasFalseCondition(status: unknown, type: string): boolean {
  const conditions = isObject(status) ? status.conditions : undefined;
  return Array.isArray(conditions) && conditions.some((c: Condition) => c?.type === type && c.status === "False");
}

/** `status` (copied) with condition `type` set; the loaded resource is never mutated. */
function withCondition(status: unknown, job: Job, type: string, value: "True" | "False", reason: string, message: string): unknown {
  const holder = { kind: job.kind, uid: job.uid, status: isObject(status) ? { ...status } : {} };
  if (Array.isArray(holder.status.conditions)) holder.status.conditions = [...holder.status.conditions];
  const generation = job.loaded.metadata?.generation;
  setCondition(conditionsOf(holder), type, value, reason, message, generation === undefined ? {} : { observedGeneration: generation });
  return holder.status;
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => (typeof setImmediate === "function" ? setImmediate(resolve) : setTimeout(resolve, 0)));
}
