import {
  jetstream,
  jetstreamManager,
  PubHeaders,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type StreamInfo,
  type StreamConfig,
  type StreamUpdateConfig,
} from "@nats-io/jetstream";
import { Match, type NatsConnection } from "@nats-io/transport-node";
import { parseCloudEvent } from "../codec/cloud-event-schema.js";
import {
  cloudEventCodec,
  cloudEventCodecForContentType,
  type CloudEventCodec,
} from "../codec/cloud-event-codec.js";
import { ValidationError } from "../codec/errors.js";
import { EncodedHeaders } from "../nats/encoded-headers.js";
import { JetStreamPublisher } from "../nats/jetstream-publisher.js";
import { isNoResponders, isPayloadTooLarge, isTransient } from "../nats/nats-errors.js";
import type { CloudEvent } from "./cloud-event.js";
import type { EventBus, EventHandler, PublishOptions, SubscribeOptions, Subscription } from "./event-bus.js";
import { BusClosedError } from "./errors.js";
import { DeadLetterHeaders, deadLetterHeaders, deadLetterSubjectFor } from "./jetstream-dead-letter.js";
import { EventPublishError, JetStreamSetupError } from "./jetstream-errors.js";
import { assertJetStreamName, filterSubject } from "./jetstream-names.js";
import { resolveOptions, type JetStreamEventBusOptions, type ResolvedOptions, type StreamLimits } from "./jetstream-options.js";
import { retrying } from "./jetstream-retry.js";
import { JetStreamSubscription, type DeliveryCounters, type SubscriptionHost } from "./jetstream-subscription.js";
import { isStreamNotFound } from "./jetstream-consumer.js";

export type { JetStreamEventBusLogger, JetStreamEventBusOptions, NakDelay } from "./jetstream-options.js";
export { DeadLetterHeaders } from "./jetstream-dead-letter.js";
export { EventPublishError, JetStreamSetupError } from "./jetstream-errors.js";

/** A snapshot of the bus's counters. */
export interface JetStreamEventBusStats {
  /** Publishes the stream acknowledged (duplicates included). */
  readonly published: number;
  /** Publishes the stream recognised as a repeat of a stored event id. */
  readonly duplicates: number;
  /** Handler runs finished, failed ones included. */
  readonly delivered: number;
  /** Handler runs that threw or rejected. */
  readonly handlerErrors: number;
  /** Messages sent to the dead-letter stream (handler gave up, or undecodable). */
  readonly deadLettered: number;
  /** Of those dead-lettered, the messages that did not decode to a valid CloudEvent (garbage, wrong content type, invalid event). */
  readonly undecodable: number;
  /** Deliveries that were not the first of their message. */
  readonly redelivered: number;
}

// Backoff between publish attempts that timed out (server restarting).
const PUBLISH_RETRY_BASE_MS = 100;
const PUBLISH_RETRY_MAX_MS = 2000;
const NANOS_PER_MS = 1_000_000;

/**
 * The event bus on NATS JetStream (DESIGN.md "NATS mapping").
 *
 * - Events of type `t` are stored in stream `CONVERGE_EVENTS` on subject
 *   `<prefix>.t`, body the structured CloudEvent (msgpack or JSON, named by
 *   the `content-type` header), `Nats-Msg-Id` the event id: a re-published
 *   event is stored once within the duplicate window.
 * - `publish` resolves once the stream stored the event. While the server is
 *   away it retries (the same id, so never twice) a bounded number of times,
 *   then rejects with EventPublishError.
 * - Each subscription is a pull consumer with one filter subject (`**` maps
 *   to `>`), explicit acks, and one handler run at a time in stream order.
 *   A failing handler's event is redelivered after an exponential delay, and
 *   after `maxDeliver` deliveries it goes to the dead-letter stream
 *   `<stream>_DLQ` on `<deadLetterSubject>.<type>`, reason in a header.
 * - Delivery is at least once: a handler may see an event again after a
 *   crash, a lost ack or a recreated consumer; handlers must be idempotent
 *   (reconcilers are).
 * - `durable` subscriptions resume where they left off, across restarts of
 *   this process; ephemeral ones start at "now" and are deleted on unsubscribe.
 *
 * The bus never closes the NatsConnection: the caller owns it. A handler that
 * awaits its own subscription's `unsubscribe()` or the bus's `close()` waits
 * forever: both wait for the handler in progress to finish.
 */
export class JetStreamEventBus implements EventBus, AsyncDisposable {
  readonly #nc: NatsConnection;
  readonly #options: ResolvedOptions;
  readonly #codec: CloudEventCodec;
  readonly #js: JetStreamClient;
  /** Event and dead-letter publishes, many in flight on one reply subscription. */
  readonly #publisher: JetStreamPublisher;
  #jsm: JetStreamManager | undefined = undefined;
  #streams: Promise<void> | undefined = undefined;
  /** A forced setup in flight (a stream found missing), shared by everyone who finds it missing meanwhile. */
  #resetting: Promise<void> | undefined = undefined;
  readonly #subs = new Set<JetStreamSubscription>();
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #counters: DeliveryCounters = { delivered: 0, handlerErrors: 0, deadLettered: 0, undecodable: 0, redelivered: 0 };
  readonly #host: SubscriptionHost;
  #published = 0;
  #duplicates = 0;
  #lastSequence = 0;
  #started = false;
  #closed = false;
  #closing: Promise<void> | undefined = undefined;

  constructor(nc: NatsConnection, options?: JetStreamEventBusOptions) {
    if (nc === null || typeof nc !== "object" || typeof (nc as { request?: unknown }).request !== "function") {
      throw new ValidationError("nc", "must be a NatsConnection (from connect() of @nats-io/transport-node)");
    }
    this.#options = resolveOptions(options);
    this.#nc = nc;
    this.#codec = cloudEventCodec(this.#options.format);
    this.#js = jetstream(nc, { timeout: this.#options.publishTimeoutMs });
    this.#publisher = new JetStreamPublisher(nc, this.#options.publishTimeoutMs);
    const bus = this;
    this.#host = {
      nc,
      js: this.#js,
      get jsm() {
        return bus.#jsm!;
      },
      options: this.#options,
      counters: this.#counters,
      ensureStreams: () => this.#ensureStreams(true),
      decode: (m) => this.#decode(m),
      deadLetter: (m, reason) => this.#deadLetter(m, reason),
      lastPublishedSequence: () => this.#lastSequence,
      forget: (sub) => this.#subs.delete(sub),
    };
  }

  /** The stream events are stored in. */
  get stream(): string {
    return this.#options.stream;
  }

  /** The stream dead letters are stored in. */
  get deadLetterStream(): string {
    return this.#options.deadLetterStream;
  }

  /** `<prefix>` of the event subjects `<prefix>.<type>`. */
  get subjectPrefix(): string {
    return this.#options.subjectPrefix;
  }

  /** Dead letters are published on `<deadLetterSubject>.<event type>`. */
  get deadLetterSubject(): string {
    return this.#options.deadLetterSubject;
  }

  /** The subject an event of `type` is published on. */
  subjectFor(type: string): string {
    return `${this.#options.subjectPrefix}.${type}`;
  }

  /**
   * Creates or updates the event and dead-letter streams (idempotent), then
   * begins delivery to the subscriptions. Retries while the server is away,
   * like a publish.
   */
  async start(): Promise<void> {
    if (this.#closed) throw new BusClosedError("event bus is closed: start refused");
    await this.#ensureStreams(false);
    if (this.#closed) return;
    this.#started = true;
    for (const sub of this.#subs) sub.begin();
  }

  /**
   * Stores the event. Before `start()` the stream is set up first and the event
   * waits there for delivery. An aborted signal rejects with its reason; an
   * attempt already sent may still be stored (re-publishing the same id is safe).
   */
  async publish(event: CloudEvent, options?: PublishOptions): Promise<void> {
    if (this.#closed) throw new BusClosedError("event bus is closed: publish refused");
    const parsed = parseCloudEvent(event);
    const signal = options?.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new ValidationError("options.signal", "must be an AbortSignal");
    }
    signal?.throwIfAborted();
    const subject = this.subjectFor(parsed.type);
    const data = this.#codec.encode(parsed);
    const work = this.#publish(parsed.id, subject, data, signal);
    this.#inFlight.add(work);
    try {
      await work;
    } finally {
      this.#inFlight.delete(work);
    }
  }

  /**
   * Creates the subscription's consumer (binding an existing durable) and,
   * once the bus is started, delivers to `handler` the events whose type
   * matches `pattern`. `durable` names a consumer that keeps its place across
   * unsubscribes and process restarts: it resumes with the first event it has
   * not acknowledged. Without it, delivery starts with events published after
   * this call.
   */
  async subscribe(pattern: string, handler: EventHandler, options?: SubscribeOptions): Promise<Subscription> {
    if (this.#closed) throw new BusClosedError("event bus is closed: subscribe refused");
    const filter = filterSubject(this.#options.subjectPrefix, pattern);
    if (typeof handler !== "function") throw new ValidationError("handler", "must be a function");
    if (options !== undefined && (options === null || typeof options !== "object")) {
      throw new ValidationError("options", "must be an object");
    }
    const durable = options?.durable === undefined ? undefined : assertJetStreamName(options.durable, "options.durable");
    if (durable !== undefined) {
      for (const sub of this.#subs) {
        if (sub.durable === durable) {
          throw new ValidationError("options.durable", `${JSON.stringify(durable)} is already subscribed on this bus`);
        }
      }
    }
    await this.#ensureStreams(false);
    let sub: JetStreamSubscription;
    try {
      sub = await JetStreamSubscription.create(this.#host, pattern, filter, durable, handler);
    } catch (error) {
      if (error instanceof ValidationError || error instanceof JetStreamSetupError) throw error;
      throw new JetStreamSetupError(
        `could not create the consumer for pattern ${JSON.stringify(pattern)} on stream ${this.#options.stream}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    if (this.#closed) {
      await sub.stop();
      throw new BusClosedError("event bus closed while the subscription was being created");
    }
    this.#subs.add(sub);
    if (this.#started) sub.begin();
    return sub;
  }

  /**
   * Refuses new publishes, waits for publishes in progress, lets every
   * subscription handle what was delivered to it and what this bus published
   * (at most `closeTimeoutMs`), then stops the subscriptions, deleting the
   * ephemeral consumers. Events that failed and wait for a delayed redelivery
   * stay in the stream for a durable subscription's next run. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  stats(): JetStreamEventBusStats {
    return {
      published: this.#published,
      duplicates: this.#duplicates,
      delivered: this.#counters.delivered,
      handlerErrors: this.#counters.handlerErrors,
      deadLettered: this.#counters.deadLettered,
      undecodable: this.#counters.undecodable,
      redelivered: this.#counters.redelivered,
    };
  }

  async #close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#inFlight]);
    const subs = [...this.#subs];
    if (subs.length > 0) {
      // Like the in-memory bus: accepted events are delivered even if the bus was never started.
      for (const sub of subs) sub.begin();
      const deadline = Date.now() + this.#options.closeTimeoutMs;
      const drained = await Promise.all(subs.map((sub) => sub.drain(deadline)));
      if (drained.includes(false)) {
        this.#log("warn", `close: subscriptions did not catch up within ${this.#options.closeTimeoutMs} ms; stopping them anyway`);
      }
      await Promise.all(subs.map((sub) => sub.stop()));
    }
    // Nothing publishes any more (dead letters went out while the subscriptions drained).
    this.#publisher.close(new BusClosedError("event bus is closed: publish refused"));
    if (!this.#nc.isClosed()) await this.#nc.flush().catch(() => {});
  }

  async #publish(id: string, subject: string, data: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
    const { publishAttempts, publishTimeoutMs } = this.#options;
    // The event id is the message id: the stream stores a retried publish once.
    const h = new EncodedHeaders([
      ["content-type", this.#codec.contentType],
      [PubHeaders.MsgIdHdr, id],
    ]);
    try {
      await this.#ensureStreams(false, signal);
      const ack = await retrying(
        () =>
          this.#publisher.publish(subject, data, h).catch(async (error: unknown) => {
            // No stream listens: it may be gone (deleted, a wiped server). Set
            // the streams up again before the next attempt; if JetStream is
            // only not up yet, that fails too and the attempts go on.
            if (isNoResponders(error)) await this.#ensureStreams(true, signal).catch(() => {});
            throw error;
          }),
        {
          attempts: publishAttempts,
          baseMs: PUBLISH_RETRY_BASE_MS,
          maxMs: PUBLISH_RETRY_MAX_MS,
          signal,
          onRetry: (error, attempt, delayMs) =>
            this.#log("warn", `publish of event ${id} on ${subject}: attempt ${attempt} failed (${(error as Error).message}); retrying in ${delayMs} ms`),
        },
      );
      this.#published++;
      if (ack.duplicate) this.#duplicates++;
      // A duplicate's ack carries the sequence of the copy stored first.
      if (ack.seq > this.#lastSequence) this.#lastSequence = ack.seq;
    } catch (error) {
      if (signal?.aborted && error === signal.reason) throw error;
      if (error instanceof ValidationError || error instanceof BusClosedError) throw error;
      const why = isTransient(error)
        ? `not stored after ${publishAttempts} attempt(s) of ${publishTimeoutMs} ms (${(error as Error).message})`
        : `not stored (${(error as Error).message})`;
      throw new EventPublishError(id, subject, why, { cause: error });
    }
  }

  // Memoized; a failure clears it so the next call tries again. `force`
  // re-runs it after a stream was found missing.
  #ensureStreams(force: boolean, signal?: AbortSignal): Promise<void> {
    // Forced by many failing publishes at once: one setup serves them all.
    if (force && this.#resetting !== undefined) return this.#resetting;
    if (force || this.#streams === undefined) {
      const setup = this.#setupStreams(signal);
      this.#streams = setup;
      setup.catch(() => {
        if (this.#streams === setup) this.#streams = undefined;
      });
      if (force) {
        this.#resetting = setup;
        const done = (): void => {
          if (this.#resetting === setup) this.#resetting = undefined;
        };
        setup.then(done, done);
      }
    }
    return this.#streams;
  }

  async #setupStreams(signal: AbortSignal | undefined): Promise<void> {
    const { stream, deadLetterStream, subjectPrefix, deadLetterSubject, duplicateWindowMs, publishAttempts } = this.#options;
    const retry = {
      attempts: publishAttempts,
      baseMs: PUBLISH_RETRY_BASE_MS,
      maxMs: PUBLISH_RETRY_MAX_MS,
      signal,
      onRetry: (error: unknown, attempt: number) =>
        this.#log("warn", `stream setup: attempt ${attempt} failed (${(error as Error).message}); retrying`),
    };
    this.#jsm ??= await jetstreamManager(this.#nc, { checkAPI: false, timeout: this.#options.publishTimeoutMs });
    const jsm = this.#jsm;
    const settings: StreamSettings = { duplicateWindowMs, replicas: this.#options.replicas, limits: this.#options.limits, explicitLimits: this.#options.explicitLimits };
    await retrying(() => ensureStream(jsm, stream, `${subjectPrefix}.>`, settings), retry);
    await retrying(() => ensureStream(jsm, deadLetterStream, `${deadLetterSubject}.>`, settings), retry);
  }

  #decode(m: JsMsg): CloudEvent {
    const contentType = m.headers?.get("content-type", Match.IgnoreCase) ?? "";
    const codec = contentType === "" ? this.#codec : cloudEventCodecForContentType(contentType);
    if (codec === undefined) {
      throw new ValidationError("content-type", `${JSON.stringify(contentType)} is not a CloudEvents content type this bus reads`);
    }
    const event: CloudEvent = codec.decode(m.data, "message");
    // Subscriptions filter on the subject and promise a match on the type.
    const expected = this.subjectFor(event.type);
    if (m.subject !== expected) {
      throw new ValidationError("event.type", `${JSON.stringify(event.type)} does not match the subject ${m.subject}`);
    }
    return event;
  }

  async #deadLetter(m: JsMsg, reason: string): Promise<string> {
    const { deadLetterSubject, subjectPrefix, publishAttempts } = this.#options;
    const subject = deadLetterSubjectFor(deadLetterSubject, subjectPrefix, m.subject);
    const h = deadLetterHeaders(m, reason);
    const store = (data: Uint8Array) =>
      retrying(() => this.#publisher.publish(subject, data, h), {
        attempts: publishAttempts,
        baseMs: PUBLISH_RETRY_BASE_MS,
        maxMs: PUBLISH_RETRY_MAX_MS,
      });
    try {
      await store(m.data);
    } catch (error) {
      if (!isPayloadTooLarge(error)) throw error;
      // A message that filled max_payload no longer fits with the dead-letter
      // headers: record it without its body rather than redeliver it forever.
      h.set(DeadLetterHeaders.bodyDropped, String(m.data.length));
      await store(new Uint8Array(0));
    }
    return subject;
  }

  #log(level: "debug" | "info" | "warn" | "error", message: string): void {
    try {
      this.#options.logger[level]({ stream: this.#options.stream }, `JetStream event bus: ${message}`);
    } catch {
      // A throwing logger must not break publishing or delivery.
    }
  }
}

/** What the bus sets on the streams it creates or adopts. */
interface StreamSettings {
  readonly duplicateWindowMs: number;
  readonly replicas: number;
  readonly limits: StreamLimits;
  readonly explicitLimits: ReadonlySet<keyof StreamLimits>;
}

/** The retention limits in the server's terms. */
function limitsConfig(limits: StreamLimits): Pick<StreamConfig, "max_age" | "max_bytes" | "max_msgs"> {
  return { max_age: limits.maxAgeMs * NANOS_PER_MS, max_bytes: limits.maxBytes, max_msgs: limits.maxMsgs };
}

/**
 * Creates the stream on `subject` with the settings, or adopts an existing
 * one: adds the subject and the duplicate window, and the retention limits
 * the caller set; a default limit only replaces none at all (a stream of an
 * older version, which kept everything for ever). An operator's other
 * settings and limits stay. Two processes racing to create it both succeed.
 */
async function ensureStream(jsm: JetStreamManager, name: string, subject: string, settings: StreamSettings): Promise<StreamInfo> {
  const duplicateWindow = settings.duplicateWindowMs * NANOS_PER_MS;
  const wantedLimits = limitsConfig(settings.limits);
  let info: StreamInfo | undefined;
  try {
    info = await jsm.streams.info(name);
  } catch (error) {
    if (!isStreamNotFound(error)) throw error;
  }
  if (info === undefined) {
    try {
      return await jsm.streams.add({ name, subjects: [subject], duplicate_window: duplicateWindow, num_replicas: settings.replicas, ...wantedLimits });
    } catch (error) {
      if (isTransient(error)) throw error;
      try {
        // Lost a race with another process: it exists now, adopt it below.
        info = await jsm.streams.info(name);
      } catch {
        throw setupError(name, subject, error);
      }
    }
  }
  const config = info.config;
  const subjects = config.subjects ?? [];
  const update: Partial<StreamUpdateConfig> = {};
  if (!subjects.includes(subject)) update.subjects = [...subjects, subject];
  if (config.duplicate_window !== duplicateWindow) update.duplicate_window = duplicateWindow;
  const none = { max_age: 0, max_bytes: -1, max_msgs: -1 } as const;
  const keys = { maxAgeMs: "max_age", maxBytes: "max_bytes", maxMsgs: "max_msgs" } as const;
  for (const [option, key] of Object.entries(keys) as [keyof StreamLimits, keyof typeof none][]) {
    const current = config[key] ?? none[key];
    const unlimited = current === none[key] || (key !== "max_age" && current < 0);
    if (current !== wantedLimits[key] && (settings.explicitLimits.has(option) || unlimited)) update[key] = wantedLimits[key];
  }
  if (Object.keys(update).length === 0) return info;
  // The client merges this into the current config: other settings stay as the operator left them.
  try {
    return await jsm.streams.update(name, update);
  } catch (error) {
    if (isTransient(error)) throw error;
    throw setupError(name, subject, error);
  }
}

function setupError(name: string, subject: string, cause: unknown): JetStreamSetupError {
  return new JetStreamSetupError(`could not create or update stream ${name} on subject ${subject}: ${(cause as Error).message}`, { cause });
}
