import type { ConsumerInfo, ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { CloudEvent } from "./cloud-event.js";
import type { EventHandler, Subscription } from "./event-bus.js";
import { ensureConsumer, isConsumerNotFound, isStreamNotFound } from "./jetstream-consumer.js";
import type { ResolvedOptions } from "./jetstream-options.js";
import { backoffDelay, raceSignal, retrying, sleep } from "./jetstream-retry.js";

/** Counters the subscriptions of one bus share. */
export interface DeliveryCounters {
  delivered: number;
  handlerErrors: number;
  deadLettered: number;
  /** Of those dead-lettered, the messages that did not decode to a valid CloudEvent. */
  undecodable: number;
  redelivered: number;
}

/** What a subscription needs from its bus. */
export interface SubscriptionHost {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly options: ResolvedOptions;
  readonly counters: DeliveryCounters;
  /** Creates the streams again (after someone deleted them). */
  ensureStreams(): Promise<void>;
  /** Decodes and validates a delivered event; throws with the reason it cannot be handled. */
  decode(m: JsMsg): CloudEvent;
  /** Stores `m` in the dead-letter stream with `reason` and returns its subject there; rejects if it could not. */
  deadLetter(m: JsMsg, reason: string): Promise<string>;
  /** The stream sequence of the last event this bus published, 0 if none. */
  lastPublishedSequence(): number;
  /** Called once the subscription has stopped for good. */
  forget(subscription: JetStreamSubscription): void;
}

// Messages pulled ahead of the handler. Each waits in the client with its ack
// timer running, so this stays small: handlers run one at a time.
const PREFETCH = 64;
// Backoff of the consume loop after a failure (server gone, consumer lost).
const RETRY_BASE_MS = 100;
const RETRY_MAX_MS = 5000;
// How often close() re-asks the server while waiting for progress it did not see.
const DRAIN_POLL_MS = 200;
// Stream sequences this subscription acked lately: a copy delivered again (an
// ack that got lost, or forgotten by a server that crashed; a prefetched
// message whose ack_wait ran out while it waited) is acked again instead of
// being handled twice.
const RECENTLY_ACKED = 1024;

/**
 * One bus subscription: a pull consumer (durable or ephemeral) read by a loop
 * that hands each event to the handler, one at a time, in delivery order.
 *
 * - Success acks; a failure naks with an exponential delay, and the last
 *   allowed delivery goes to the dead-letter stream instead, then is termed.
 * - A message that does not decode to a valid CloudEvent is dead-lettered at once.
 * - The loop survives server restarts (the client re-pulls on reconnect) and a
 *   lost consumer (it is recreated from the first event not yet settled).
 * - A long-running handler keeps its message from being redelivered (`working()`).
 */
export class JetStreamSubscription implements Subscription {
  readonly id: string;
  readonly pattern: string;
  readonly filterSubject: string;
  readonly durable: string | undefined;

  readonly #host: SubscriptionHost;
  readonly #handler: EventHandler;
  #info: ConsumerInfo;
  #messages: ConsumerMessages | undefined = undefined;
  #loop: Promise<void> | undefined = undefined;
  // The loop ended by itself (the connection was closed): nothing left to drain.
  #finished = false;
  #stopping = false;
  #stopped: Promise<void> | undefined = undefined;
  // Aborts the loop's backoff sleeps and pending requests when stopping.
  readonly #abort = new AbortController();

  #current: JsMsg | undefined = undefined;
  #currentSince = 0;
  #keepAlive: ReturnType<typeof setInterval> | undefined = undefined;

  // Consumer delivery sequence of the last message handled: close() is caught
  // up once the server has delivered nothing newer.
  #handledDelivery: number;
  // Highest stream sequence handled, and those nak'ed and not yet settled:
  // where a lost consumer is recreated from (at least once, never a gap).
  #highestSequence: number;
  readonly #unsettled = new Set<number>();
  readonly #acked = new Set<number>();
  #progress: (() => void)[] = [];

  private constructor(
    host: SubscriptionHost,
    pattern: string,
    filterSubject: string,
    durable: string | undefined,
    handler: EventHandler,
    info: ConsumerInfo,
  ) {
    this.#host = host;
    this.pattern = pattern;
    this.filterSubject = filterSubject;
    this.durable = durable;
    this.#handler = handler;
    this.#info = info;
    this.id = info.name;
    this.#handledDelivery = info.delivered.consumer_seq;
    this.#highestSequence = info.delivered.stream_seq;
  }

  /** Creates (or binds) the consumer; delivery begins with `begin()`. */
  static async create(
    host: SubscriptionHost,
    pattern: string,
    filterSubject: string,
    durable: string | undefined,
    handler: EventHandler,
  ): Promise<JetStreamSubscription> {
    const { options } = host;
    const spec = {
      stream: options.stream,
      filterSubject,
      durable,
      ackWaitMs: options.ackWaitMs,
      maxDeliver: options.maxDeliver,
      maxAckPending: options.maxAckPending,
    };
    // Like a publish, creating the consumer waits out a server restart.
    const info = await retrying(() => ensureConsumer(host.jsm, spec, options.logger), {
      attempts: options.publishAttempts,
      baseMs: RETRY_BASE_MS,
      maxMs: RETRY_MAX_MS,
    });
    return new JetStreamSubscription(host, pattern, filterSubject, durable, handler, info);
  }

  /** The consumer's current name (an ephemeral one changes if it had to be recreated). */
  get consumerName(): string {
    return this.#info.name;
  }

  unsubscribe(): Promise<void> {
    return this.stop();
  }

  /** Starts the consume loop; idempotent. */
  begin(): void {
    if (this.#loop !== undefined || this.#stopping) return;
    this.#loop = this.#run();
  }

  /**
   * Waits until this subscription has handled (at least once) every event the
   * server delivered to it, nothing matching is left undelivered up to the
   * last event this bus published, and no handler runs. False at `deadline`.
   * Failed events waiting for their delayed redelivery are not waited for.
   */
  async drain(deadline: number): Promise<boolean> {
    const { jsm, options } = this.#host;
    while (!this.#stopping && !this.#finished && this.#loop !== undefined) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) return false;
      const progress = this.#nextProgress();
      try {
        const info = await withTimeout(jsm.consumers.info(options.stream, this.#info.name), remaining);
        const target = this.#host.lastPublishedSequence();
        const delivered = info.num_pending === 0 || info.delivered.stream_seq >= target;
        if (delivered && info.delivered.consumer_seq <= this.#handledDelivery && this.#current === undefined) return true;
      } catch (error) {
        this.#log("debug", "could not read consumer state while closing; retrying", error);
      }
      // Cancelled once progress wins, so no poll timer outlives close().
      const poll = new AbortController();
      const pause = sleep(Math.min(DRAIN_POLL_MS, Math.max(0, deadline - Date.now())), poll.signal).catch(() => {});
      await Promise.race([progress, pause]);
      poll.abort();
    }
    return true;
  }

  /**
   * Stops consuming: the handler in progress finishes, messages pulled ahead
   * are handed back (durable) or dropped with the consumer (ephemeral, which
   * is deleted). Idempotent.
   */
  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    this.#stopping = true;
    this.#abort.abort(new Error("subscription stopped"));
    this.#messages?.stop();
    await this.#loop;
    const { nc, jsm, options } = this.#host;
    if (this.durable === undefined && !nc.isClosed()) {
      try {
        await jsm.consumers.delete(options.stream, this.#info.name);
      } catch (error) {
        // The server removes it after its inactivity threshold anyway.
        this.#log("debug", `could not delete ephemeral consumer ${this.#info.name}`, error);
      }
    }
    // Acks and naks are plain publishes: make sure they left before we report done.
    if (!nc.isClosed()) await nc.flush().catch(() => {});
    this.#wake();
    this.#host.forget(this);
  }

  async #run(): Promise<void> {
    const { options } = this.#host;
    // ackWaitMs >= 100, so at least every 33 ms: well inside the ack window.
    const period = Math.floor(options.ackWaitMs / 3);
    this.#keepAlive = setInterval(() => this.#extend(period), period);
    (this.#keepAlive as { unref?: () => void }).unref?.();
    let failures = 0;
    try {
      while (!this.#stopping) {
        try {
          const consumer = this.#host.js.consumers.getConsumerFromInfo(this.#info);
          const messages = await consumer.consume({
            max_messages: Math.min(PREFETCH, options.maxAckPending ?? PREFETCH),
            // A vanished consumer ends the iterator, so it is recreated below
            // instead of the client waiting forever for it to come back.
            abort_on_missing_resource: true,
          });
          this.#messages = messages;
          if (this.#stopping) messages.stop();
          for await (const m of messages) {
            if (this.#stopping) this.#handBack(m);
            else await this.#handle(m);
            failures = 0;
          }
          if (this.#stopping) break;
          if (this.#host.nc.isClosed()) {
            this.#log("warn", "the NATS connection closed; subscription stopped");
            break;
          }
          // Backed off like a failure, so an iterator that keeps ending cannot spin.
          throw new Error("the consumer's message iterator ended");
        } catch (error) {
          if (this.#stopping) break;
          if (this.#host.nc.isClosed()) {
            this.#log("warn", "the NATS connection closed; subscription stopped", error);
            break;
          }
          failures++;
          this.#log("warn", `consuming failed (attempt ${failures}); retrying`, error);
          await this.#recover();
          await sleep(backoffDelay(RETRY_BASE_MS, RETRY_MAX_MS, failures), this.#abort.signal).catch(() => {});
        } finally {
          this.#messages = undefined;
        }
      }
    } catch (error) {
      // Only a bug gets here; the loop itself never throws out.
      this.#log("error", "consume loop failed", error);
    } finally {
      clearInterval(this.#keepAlive);
      this.#keepAlive = undefined;
      this.#finished = true;
      this.#wake();
    }
  }

  // The consumer (or its stream) may be gone: recreate it from the first
  // event not yet settled. Anything else is transient, and consuming again is the cure.
  async #recover(): Promise<void> {
    const { jsm, options } = this.#host;
    const signal = this.#abort.signal;
    try {
      await raceSignal(jsm.consumers.info(options.stream, this.#info.name), signal);
      return;
    } catch (error) {
      if (signal.aborted) return;
      if (isStreamNotFound(error)) {
        try {
          await raceSignal(this.#host.ensureStreams(), signal);
        } catch (setupError) {
          if (!signal.aborted) this.#log("warn", `stream ${options.stream} is missing and could not be created`, setupError);
          return;
        }
      } else if (!isConsumerNotFound(error)) {
        return;
      }
    }
    let startSequence = this.#resumeSequence();
    try {
      const stream = await raceSignal(jsm.streams.info(options.stream), signal);
      // A stream created after our consumer, or behind where we were, is
      // another one (deleted and created again, or a server's wiped store):
      // resuming at our old sequence would skip its events until it got there.
      if (Date.parse(stream.created) > Date.parse(this.#info.created) || stream.state.last_seq < startSequence - 1) {
        this.#log("warn", `stream ${options.stream} was created again (now at sequence ${stream.state.last_seq}, we were at ${startSequence - 1}): reading it from its first event`);
        startSequence = Math.max(1, stream.state.first_seq);
        // Sequences of the old stream name nothing in this one.
        this.#highestSequence = startSequence - 1;
        this.#unsettled.clear();
        this.#acked.clear();
      }
    } catch (error) {
      if (signal.aborted) return;
      // Without the stream's state, resume where we were, as before.
      this.#log("debug", "could not read the stream's state; resuming where the subscription was", error);
    }
    try {
      const info = await raceSignal(
        ensureConsumer(
          jsm,
          {
            stream: options.stream,
            filterSubject: this.filterSubject,
            durable: this.durable,
            ackWaitMs: options.ackWaitMs,
            maxDeliver: options.maxDeliver,
            maxAckPending: options.maxAckPending,
            startSequence,
          },
          options.logger,
        ),
        signal,
      );
      if (this.#stopping) return;
      this.#info = info;
      this.#handledDelivery = info.delivered.consumer_seq;
      this.#log("warn", `consumer was missing; recreated as ${info.name} from stream sequence ${startSequence}`);
    } catch (error) {
      if (!signal.aborted) this.#log("warn", "could not recreate the missing consumer", error);
    }
  }

  #resumeSequence(): number {
    let start = this.#highestSequence + 1;
    for (const seq of this.#unsettled) if (seq < start) start = seq;
    return start;
  }

  async #handle(m: JsMsg): Promise<void> {
    const { counters, options } = this.#host;
    const { streamSequence, deliverySequence, deliveryCount } = m.info;
    this.#current = m;
    this.#currentSince = performance.now();
    if (deliveryCount > 1) counters.redelivered++;
    try {
      // Any count: a server that crashed may lose acks and deliver an event "first" again.
      if (this.#acked.has(streamSequence)) {
        m.ack();
        return;
      }
      let event: CloudEvent;
      try {
        event = this.#host.decode(m);
      } catch (error) {
        this.#log("error", `cannot handle the message at stream sequence ${streamSequence} on ${m.subject}; dead-lettering it`, error);
        if (await this.#giveUp(m, `undecodable: ${messageOf(error)}`)) counters.undecodable++;
        return;
      }
      try {
        await this.#handler(event);
      } catch (error) {
        counters.delivered++;
        counters.handlerErrors++;
        const what = `event ${event.id} of type ${event.type} (delivery ${deliveryCount} of ${options.maxDeliver})`;
        if (deliveryCount >= options.maxDeliver) {
          this.#log("error", `handler failed on ${what}; dead-lettering it`, error);
          await this.#giveUp(m, `handler failed ${deliveryCount} time(s): ${messageOf(error)}`);
        } else {
          const delay = backoffDelay(options.nakDelayMs.baseMs, options.nakDelayMs.maxMs, deliveryCount);
          this.#log("error", `handler failed on ${what}; redelivery in ${delay} ms`, error);
          this.#unsettled.add(streamSequence);
          m.nak(delay);
        }
        return;
      }
      counters.delivered++;
      this.#unsettled.delete(streamSequence);
      m.ack();
      this.#rememberAck(streamSequence);
    } finally {
      this.#current = undefined;
      if (deliverySequence > this.#handledDelivery) this.#handledDelivery = deliverySequence;
      if (streamSequence > this.#highestSequence) this.#highestSequence = streamSequence;
      this.#wake();
    }
  }

  #rememberAck(sequence: number): void {
    this.#acked.add(sequence);
    // A Set iterates in insertion order: the first key is the oldest.
    if (this.#acked.size > RECENTLY_ACKED) this.#acked.delete(this.#acked.values().next().value!);
  }

  // Dead-letters then terms. If the dead letter cannot be stored, the message
  // is nak'ed so it stays in the stream (the server stops redelivering it at
  // max_deliver; it is not lost, only no longer delivered).
  async #giveUp(m: JsMsg, reason: string): Promise<boolean> {
    const { streamSequence, deliveryCount } = m.info;
    let subject: string;
    try {
      subject = await this.#host.deadLetter(m, reason);
    } catch (error) {
      const { baseMs, maxMs } = this.#host.options.nakDelayMs;
      this.#log("error", `could not dead-letter stream sequence ${streamSequence}; nak'ing it instead`, error);
      this.#unsettled.add(streamSequence);
      m.nak(backoffDelay(baseMs, maxMs, deliveryCount));
      return false;
    }
    this.#host.counters.deadLettered++;
    this.#unsettled.delete(streamSequence);
    m.term();
    this.#log("warn", `dead-lettered stream sequence ${streamSequence} of ${m.subject} to ${subject}: ${reason}`);
    return true;
  }

  // A message pulled ahead but not handled before stopping: a durable's goes
  // back to the server at once (else it would wait out ack_wait), an
  // ephemeral's disappears with its consumer.
  #handBack(m: JsMsg): void {
    if (this.durable !== undefined) m.nak();
  }

  // Tells the server the handler is still at work, so ack_wait does not redeliver.
  #extend(period: number): void {
    const m = this.#current;
    if (m !== undefined && performance.now() - this.#currentSince >= period) m.working();
  }

  #nextProgress(): Promise<void> {
    return new Promise((resolve) => this.#progress.push(resolve));
  }

  #wake(): void {
    if (this.#progress.length === 0) return;
    const waiting = this.#progress;
    this.#progress = [];
    for (const resolve of waiting) resolve();
  }

  // A throwing logger must not break the loop.
  #log(level: "debug" | "info" | "warn" | "error", message: string, error?: unknown): void {
    const fields = { pattern: this.pattern, consumer: this.#info.name, stream: this.#host.options.stream, ...(error === undefined ? {} : { err: error }) };
    try {
      this.#host.options.logger[level](fields, `JetStream subscription: ${message}`);
    } catch {
      // Nothing sensible left to report it to.
    }
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return raceSignal(promise, AbortSignal.timeout(Math.max(1, ms)));
}
