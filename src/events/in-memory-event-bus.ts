import { parseCloudEvent } from "../codec/cloud-event-schema.js";
import { ValidationError } from "../codec/errors.js";
import type { CloudEvent } from "./cloud-event.js";
import type { EventBus, EventHandler, PublishOptions, SubscribeOptions, Subscription } from "./event-bus.js";
import { BusClosedError } from "./errors.js";
import { Fifo } from "./fifo.js";
import { compilePattern, type PatternMatcher } from "./pattern.js";

// Deliveries chain through microtasks, which never let timers or I/O run; after
// this many the bus yields one macrotask turn, so a handler that keeps
// publishing to itself cannot starve the rest of the process.
const DELIVERIES_PER_TURN = 4096;

const yieldToLoop: (resume: () => void) => void =
  typeof setImmediate === "function" ? (resume) => setImmediate(resume) : (resume) => setTimeout(resume, 0);

/** What the bus logs through; `console` and pino fit. */
/** Called as `(fields, message)`, pino's order, which `console` takes too; a logger for `(message, ...args)` still fits. */
export interface EventBusLogger {
  error(first: string | Readonly<Record<string, unknown>>, ...rest: unknown[]): void;
  warn(first: string | Readonly<Record<string, unknown>>, ...rest: unknown[]): void;
}

export interface InMemoryEventBusOptions {
  /** Where handler failures and backpressure warnings go; default `console`. */
  logger?: EventBusLogger;
}

/** A snapshot of the bus's counters. */
export interface EventBusStats {
  /** Events accepted by `publish`. */
  readonly published: number;
  /** Handler deliveries finished (one per matching subscription per event), failed ones included. */
  readonly delivered: number;
  /** Deliveries whose handler threw or rejected. */
  readonly handlerErrors: number;
  /** Accepted events not yet handled by every subscription they were routed to. */
  readonly pending: number;
}

/** An accepted event and how many subscriptions still owe it a delivery. */
interface Envelope {
  readonly event: CloudEvent;
  remaining: number;
}

/** A publish waiting for buffer space. */
interface WaitingPublish {
  readonly event: CloudEvent;
  readonly resolve: () => void;
  readonly reject: (reason: unknown) => void;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  /** Accepted, aborted or refused: a settled entry left in the FIFO is skipped. */
  settled: boolean;
}

class MemorySubscription implements Subscription {
  readonly queue = new Fifo<Envelope>();
  /** Still registered; false once unsubscribed. */
  active = true;
  /** In the bus's ready FIFO. */
  scheduled = false;
  /** The envelope its handler is working on; one at a time keeps per-subscription order. */
  current: Envelope | undefined = undefined;
  /** Set by the bus: settle callbacks made once here, not once per event. */
  onFulfilled!: () => void;
  onRejected!: (error: unknown) => void;
  stopped: Promise<void> | undefined = undefined;
  idle: (() => void) | undefined = undefined;

  constructor(
    readonly id: string,
    readonly pattern: string,
    readonly match: PatternMatcher,
    readonly handler: EventHandler,
    private readonly bus: InMemoryEventBus,
  ) {}

  unsubscribe(): Promise<void> {
    return this.bus.unsubscribe(this.id);
  }
}

/**
 * The embedded event bus (Fabrica's `NewInMemoryEventBus(1000, 10)`).
 *
 * - At most `bufferSize` accepted events wait for delivery; `publish` on a full
 *   buffer waits for space (in call order) and never drops.
 * - Each subscription gets its events one at a time, in publish order; distinct
 *   subscriptions run concurrently, at most `workers` handlers at once.
 * - A handler failure is logged and counted; the event counts as delivered.
 * - An event reaches the subscriptions that exist when it is accepted.
 *
 * A handler that awaits `publish` on this bus, its own `unsubscribe()` or
 * `close()` can wait forever: the buffer may be full of events queued behind
 * that very handler, and the other two wait for the handler to finish.
 */
export class InMemoryEventBus implements EventBus, AsyncDisposable {
  readonly bufferSize: number;
  readonly workers: number;
  readonly #logger: EventBusLogger;

  // Copy-on-write: publish iterates it while handlers may (un)subscribe.
  #subs: readonly MemorySubscription[] = [];
  readonly #byId = new Map<string, MemorySubscription>();
  // Subscriptions with queued events and no delivery in progress; round robin.
  readonly #ready = new Fifo<MemorySubscription>();
  readonly #waiting = new Fifo<WaitingPublish>();
  #liveWaiting = 0;
  #running = 0;
  #pending = 0;
  #published = 0;
  #delivered = 0;
  #handlerErrors = 0;
  #started = false;
  #closed = false;
  #closing: Promise<void> | undefined = undefined;
  #pumpScheduled = false;
  #pumping = false;
  #drained: (() => void)[] = [];
  #nextId = 1;
  #warnedFull = false;
  #budget = DELIVERIES_PER_TURN;
  #yielding = false;
  readonly #pumpTask = (): void => this.#pump();
  readonly #resumeTask = (): void => {
    this.#yielding = false;
    this.#budget = DELIVERIES_PER_TURN;
    this.#pump();
  };

  constructor(bufferSize = 1000, workers = 10, options: InMemoryEventBusOptions = {}) {
    if (!Number.isSafeInteger(bufferSize) || bufferSize < 1) {
      throw new ValidationError("bufferSize", `${String(bufferSize)} must be a positive integer`);
    }
    if (!Number.isSafeInteger(workers) || workers < 1) {
      throw new ValidationError("workers", `${String(workers)} must be a positive integer`);
    }
    this.bufferSize = bufferSize;
    this.workers = workers;
    this.#logger = options.logger ?? console;
  }

  async start(): Promise<void> {
    this.#begin();
  }

  async publish(event: CloudEvent, options?: PublishOptions): Promise<void> {
    if (this.#closed) throw new BusClosedError("event bus is closed: publish refused");
    // The parsed copy is what subscribers see: a publisher mutating its object
    // afterwards cannot change an accepted event.
    const parsed: CloudEvent = parseCloudEvent(event);
    const signal = options?.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new ValidationError("options.signal", "must be an AbortSignal");
    }
    signal?.throwIfAborted();
    // Behind waiting publishes even when there is space: acceptance stays in call order.
    if (this.#liveWaiting === 0 && this.#pending < this.bufferSize) {
      this.#accept(parsed);
      return;
    }
    return this.#wait(parsed, signal);
  }

  async subscribe(pattern: string, handler: EventHandler, _options?: SubscribeOptions): Promise<Subscription> {
    if (this.#closed) throw new BusClosedError("event bus is closed: subscribe refused");
    const match = compilePattern(pattern);
    if (typeof handler !== "function") throw new ValidationError("handler", "must be a function");
    // `durable` has nothing to resume in memory: a new subscription starts from now.
    const sub = new MemorySubscription(`sub-${this.#nextId++}`, pattern, match, handler, this);
    sub.onFulfilled = () => {
      this.#settle(sub, false, undefined);
      if (!this.#pumping) this.#pump();
    };
    sub.onRejected = (error) => {
      this.#settle(sub, true, error);
      if (!this.#pumping) this.#pump();
    };
    this.#subs = [...this.#subs, sub];
    this.#byId.set(sub.id, sub);
    return sub;
  }

  /**
   * Removes a subscription: its queued events are dropped and the promise
   * resolves once a delivery in progress has finished. Unknown ids are a no-op.
   */
  unsubscribe(id: string): Promise<void> {
    const sub = this.#byId.get(id);
    if (sub === undefined) return Promise.resolve();
    if (sub.stopped !== undefined) return sub.stopped;
    this.#byId.delete(id);
    sub.active = false;
    this.#subs = this.#subs.filter((s) => s !== sub);
    for (let env = sub.queue.shift(); env !== undefined; env = sub.queue.shift()) this.#release(env);
    sub.stopped =
      sub.current === undefined ? Promise.resolve() : new Promise<void>((resolve) => (sub.idle = resolve));
    return sub.stopped;
  }

  /** Refuses new publishes (waiting ones too), delivers everything accepted, then resolves. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  stats(): EventBusStats {
    return {
      published: this.#published,
      delivered: this.#delivered,
      handlerErrors: this.#handlerErrors,
      pending: this.#pending,
    };
  }

  async #close(): Promise<void> {
    this.#closed = true;
    // Waiting publishes were never accepted, so refusing them loses nothing silently.
    for (let w = this.#waiting.shift(); w !== undefined; w = this.#waiting.shift()) {
      if (w.settled) continue;
      w.settled = true;
      if (w.onAbort !== undefined) w.signal?.removeEventListener("abort", w.onAbort);
      w.reject(new BusClosedError("event bus closed while the publish waited for buffer space"));
    }
    this.#liveWaiting = 0;
    // Accepted events are delivered even if the bus was never started.
    this.#begin();
    if (this.#pending > 0) await new Promise<void>((resolve) => this.#drained.push(resolve));
    for (const sub of this.#subs) sub.active = false;
    this.#subs = [];
    this.#byId.clear();
  }

  #begin(): void {
    if (this.#started) return;
    this.#started = true;
    for (const sub of this.#subs) this.#makeReady(sub);
    this.#schedulePump();
  }

  #makeReady(sub: MemorySubscription): void {
    if (this.#started && !sub.scheduled && sub.current === undefined && sub.active && sub.queue.length > 0) {
      sub.scheduled = true;
      this.#ready.push(sub);
    }
  }

  #accept(event: CloudEvent): void {
    this.#published++;
    const subs = this.#subs;
    let env: Envelope | undefined;
    for (let i = 0; i < subs.length; i++) {
      const sub = subs[i];
      if (!sub.match(event.type)) continue;
      env ??= { event, remaining: 0 };
      env.remaining++;
      sub.queue.push(env);
      this.#makeReady(sub);
    }
    // An event no one subscribed to is done the moment it is accepted.
    if (env === undefined) return;
    this.#pending++;
    this.#schedulePump();
  }

  #wait(event: CloudEvent, signal: AbortSignal | undefined): Promise<void> {
    if (!this.#warnedFull) {
      this.#warnedFull = true;
      this.#log("warn", `event bus buffer is full (${this.bufferSize} events pending); publishers wait for space`);
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: WaitingPublish = { event, resolve, reject, signal, onAbort: undefined, settled: false };
      if (signal !== undefined) {
        waiter.onAbort = () => {
          if (waiter.settled) return;
          // Not yet accepted: dropping the waiter leaves nothing half-done.
          waiter.settled = true;
          this.#liveWaiting--;
          this.#compactWaiting();
          reject(signal.reason);
        };
        signal.addEventListener("abort", waiter.onAbort, { once: true });
      }
      this.#waiting.push(waiter);
      this.#liveWaiting++;
    });
  }

  // Aborted waiters stay in the FIFO as settled entries; rebuild it when they
  // dominate, so a stuck bus with impatient publishers does not grow forever.
  #compactWaiting(): void {
    const total = this.#waiting.length;
    if (total < 64 || this.#liveWaiting * 2 > total) return;
    for (let i = 0; i < total; i++) {
      const w = this.#waiting.shift()!;
      if (!w.settled) this.#waiting.push(w);
    }
  }

  #admit(): void {
    while (this.#pending < this.bufferSize) {
      const w = this.#waiting.shift();
      if (w === undefined) break;
      if (w.settled) continue;
      w.settled = true;
      this.#liveWaiting--;
      if (w.onAbort !== undefined) w.signal?.removeEventListener("abort", w.onAbort);
      this.#accept(w.event);
      w.resolve();
    }
  }

  #schedulePump(): void {
    if (this.#pumpScheduled || this.#pumping || this.#yielding || !this.#started) return;
    this.#pumpScheduled = true;
    queueMicrotask(this.#pumpTask);
  }

  #pump(): void {
    this.#pumpScheduled = false;
    if (this.#yielding) return;
    this.#pumping = true;
    try {
      while (this.#running < this.workers && this.#ready.length > 0) {
        if (--this.#budget < 0) {
          this.#yielding = true;
          yieldToLoop(this.#resumeTask);
          break;
        }
        const sub = this.#ready.shift();
        if (sub === undefined) break;
        sub.scheduled = false;
        if (!sub.active || sub.current !== undefined) continue;
        const env = sub.queue.shift();
        if (env === undefined) continue;
        this.#running++;
        sub.current = env;
        let result: unknown;
        try {
          result = sub.handler(env.event);
        } catch (error) {
          this.#settle(sub, true, error);
          continue;
        }
        if (isThenable(result)) {
          // Promise.resolve tames foreign thenables that settle twice or throw from then().
          Promise.resolve(result).then(sub.onFulfilled, sub.onRejected);
        } else {
          this.#settle(sub, false, undefined);
        }
      }
    } finally {
      this.#pumping = false;
    }
  }

  #settle(sub: MemorySubscription, failed: boolean, error: unknown): void {
    const env = sub.current!;
    sub.current = undefined;
    this.#running--;
    this.#delivered++;
    if (failed) {
      this.#handlerErrors++;
      this.#log(
        "error",
        `event handler for pattern ${JSON.stringify(sub.pattern)} (${sub.id}) failed on event ${env.event.id} of type ${env.event.type}`,
        { pattern: sub.pattern, subscription: sub.id, eventId: env.event.id, eventType: env.event.type, err: error },
      );
    }
    if (sub.active) this.#makeReady(sub);
    else if (sub.idle !== undefined) sub.idle();
    this.#release(env);
  }

  #release(env: Envelope): void {
    if (--env.remaining > 0) return;
    this.#pending--;
    if (this.#liveWaiting > 0) this.#admit();
    if (this.#pending === 0) {
      this.#warnedFull = false;
      if (this.#drained.length > 0) {
        const drained = this.#drained;
        this.#drained = [];
        for (const resolve of drained) resolve();
      }
    }
  }

  // A throwing logger must not break delivery bookkeeping.
  #log(level: "error" | "warn", message: string, fields: Readonly<Record<string, unknown>> = {}): void {
    try {
      this.#logger[level](fields, message);
    } catch {
      // Nothing sensible left to report it to.
    }
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === "object" || typeof value === "function") &&
    typeof (value as { then?: unknown }).then === "function"
  );
}
