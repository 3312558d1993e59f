import { JetStreamApiError, JetStreamError } from "@nats-io/jetstream";
import { createInbox, errors, type Msg, type MsgHdrs, type NatsConnection, type Status, type Subscription } from "@nats-io/transport-node";

/** What the stream said about a stored message. */
export interface PublishAck {
  seq: number;
  duplicate: boolean;
}

interface Pending {
  resolve(ack: PublishAck): void;
  reject(error: unknown): void;
  subject: string;
  /** performance.now() past which the request has timed out. */
  deadline: number;
}

const decoder = new TextDecoder();

/**
 * JetStream publishes (a stored message and its ack) with many in flight on
 * one reply subscription: replies are matched by token, and one sweep timer
 * times out what went unanswered. `js.publish` goes through `nc.request`,
 * which arms a timer per request and builds an Error as each one settles
 * (`RequestOne.cancel`): a fifth of the CPU of a pipelined KV compare-and-swap.
 *
 * Errors are the ones `js.publish` gives, so retry logic reads them alike:
 * `JetStreamApiError` for a refusal (wrong last sequence, …), `RequestError`
 * caused by `NoRespondersError` when no stream listens (JetStream not ready),
 * `TimeoutError`, what `nc.publish` throws (payload too large, closed), and
 * `PermissionViolationError` for a subject the user may not publish to.
 */
export class JetStreamPublisher {
  readonly #nc: NatsConnection;
  readonly #timeoutMs: number;
  readonly #inbox: string;
  readonly #pending = new Map<string, Pending>();
  #subscription: Subscription | undefined;
  #statuses: (AsyncIterable<Status> & { stop?(): void }) | undefined;
  #sweep: ReturnType<typeof setInterval> | undefined;
  #next = 0;
  #closed: Error | undefined;

  constructor(nc: NatsConnection, timeoutMs: number) {
    this.#nc = nc;
    this.#timeoutMs = timeoutMs;
    const prefix = (nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix;
    this.#inbox = `${createInbox(prefix)}.`;
  }

  /** Publishes `data` on `subject` with `headers` and resolves with the stream's ack. */
  publish(subject: string, data: Uint8Array, headers: MsgHdrs): Promise<PublishAck> {
    if (this.#closed) return Promise.reject(this.#closed);
    this.#subscribe();
    const token = (this.#next++).toString(36);
    return new Promise<PublishAck>((resolve, reject) => {
      try {
        this.#nc.publish(subject, data, { reply: this.#inbox + token, headers });
      } catch (error) {
        reject(error);
        return;
      }
      this.#pending.set(token, { resolve, reject, subject, deadline: performance.now() + this.#timeoutMs });
      this.#sweep ??= setInterval(() => this.#timeOut(), Math.max(10, Math.min(1000, this.#timeoutMs / 4)));
    });
  }

  /**
   * Refuses new publishes with `reason`; what is in flight still gets its
   * answer (its message may be stored already), then the subscription ends.
   */
  close(reason: Error): void {
    if (this.#closed) return;
    this.#closed = reason;
    if (this.#pending.size === 0) this.#unsubscribe();
  }

  #unsubscribe(): void {
    this.#subscription?.unsubscribe();
    this.#subscription = undefined;
    this.#statuses?.stop?.();
    this.#statuses = undefined;
  }

  #subscribe(): void {
    if (this.#subscription && !this.#subscription.isClosed()) return;
    this.#subscription = this.#nc.subscribe(`${this.#inbox}*`, {
      callback: (error, msg) => (error ? this.#failAll(error) : this.#onReply(msg)),
    });
    // The connection closed under us: nothing in flight can be answered any more.
    void this.#subscription.closed.then(() => this.#failAll(new errors.ClosedConnectionError()));
    if (this.#statuses === undefined) void this.#watchPermissions((this.#statuses = this.#nc.status()));
  }

  // The server refuses a publish with an -ERR that names only the subject,
  // which nats.js reports as a connection status; each refused publish gets
  // one, so it goes to the oldest request on that subject (as nats.js does
  // for its own requests). Without this, the request would time out.
  async #watchPermissions(statuses: AsyncIterable<Status>): Promise<void> {
    for await (const status of statuses) {
      if (status.type !== "error" || !(status.error instanceof errors.PermissionViolationError)) continue;
      const { operation, subject } = status.error;
      if (operation !== "publish") continue;
      for (const [token, pending] of this.#pending) {
        if (pending.subject !== subject) continue;
        this.#settled(token);
        pending.reject(status.error);
        break;
      }
    }
  }

  #onReply(msg: Msg): void {
    const token = msg.subject.slice(this.#inbox.length);
    const pending = this.#pending.get(token);
    if (!pending) return; // timed out already
    this.#settled(token);
    if (msg.data.length === 0 && msg.headers?.code === 503) {
      pending.reject(new errors.RequestError("no responders", { cause: new errors.NoRespondersError(pending.subject) }));
      return;
    }
    let reply: { error?: { code: number; err_code?: number; description: string }; stream?: string; seq?: number; duplicate?: boolean };
    try {
      reply = JSON.parse(decoder.decode(msg.data));
    } catch (error) {
      pending.reject(new JetStreamError("invalid ack response", { cause: error }));
      return;
    }
    if (reply.error) pending.reject(new JetStreamApiError(reply.error as ConstructorParameters<typeof JetStreamApiError>[0]));
    else if (!reply.stream || typeof reply.seq !== "number") pending.reject(new JetStreamError("invalid ack response"));
    else pending.resolve({ seq: reply.seq, duplicate: reply.duplicate === true });
  }

  #settled(token: string): void {
    this.#pending.delete(token);
    if (this.#pending.size > 0) return;
    clearInterval(this.#sweep);
    this.#sweep = undefined;
    if (this.#closed) this.#unsubscribe();
  }

  #timeOut(): void {
    const now = performance.now();
    // Map order is publish order and every request has the same timeout: stop at the first one still in time.
    for (const [token, pending] of this.#pending) {
      if (pending.deadline > now) break;
      this.#settled(token);
      pending.reject(new errors.TimeoutError());
    }
  }

  #failAll(error: unknown): void {
    const all = [...this.#pending.values()];
    this.#pending.clear();
    clearInterval(this.#sweep);
    this.#sweep = undefined;
    if (this.#closed) this.#unsubscribe();
    for (const pending of all) pending.reject(error);
  }
}
