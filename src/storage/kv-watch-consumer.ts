import { DeliverPolicy, type JetStreamClient, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { isConsumerNotFound } from "../nats/nats-errors.js";

/** One message of the bucket's stream as a watch sees it. */
export interface KvWatchEntry {
  /** The key: the subject without the bucket's prefix. */
  readonly key: string;
  /** The stream sequence: the key's revision. */
  readonly revision: number;
  readonly value: Uint8Array;
  /** `PUT`, or a delete marker (`DEL`, `PURGE`); read only for an empty value (it decodes the headers). */
  readonly operation: "PUT" | "DEL" | "PURGE";
}

/** One running watch: its entries go to the callback it was opened with. */
export interface KvWatchSource {
  /** Resolves once the watch stops by itself: with the error that stopped it, if any. Not after `stop()`. */
  readonly ended: Promise<Error | undefined>;
  /** Ends the watch; resolves once its consumer is deleted (or could not be). Never rejects. */
  stop(): Promise<void>;
  /**
   * Asks the server whether the watch's consumer still exists (after a
   * reconnect: a long cut-off outlasts its inactivity threshold; after the
   * server says it deleted one); if not, a new one takes over from where the
   * watch was, at once rather than after the client's missed heartbeats (a
   * minute). `deleted`: the name of a consumer the server says it
   * deleted; another one's needs no question. Never rejects.
   */
  verify(deleted?: string): Promise<void>;
}

/**
 * How long the server keeps a watch consumer nobody listens to. A clean stop
 * deletes it; this bounds what a crashed process leaves behind (the client's
 * default is 5 minutes). A client cut off for longer gets a new consumer from
 * where it was when it is back, so nothing is lost by a short one.
 */
export const IDLE_CONSUMER_EXPIRY_MS = 10_000;

/**
 * Gives an ordered consumer the short inactivity threshold (the client
 * creates it with 5 minutes and has no option for it). Not awaited by
 * callers: a consumer that misses it only lingers longer.
 */
export function expireSoonWhenIdle(jsm: JetStreamManager, stream: string, name: string): void {
  jsm.consumers.update(stream, name, { inactive_threshold: nanos(IDLE_CONSUMER_EXPIRY_MS) }).catch(() => {});
}

/** Consumer notices that may mean the bucket's stream was deleted or wiped: worth a look at the stream. */
const TROUBLE = new Set(["consumer_deleted", "stream_not_found", "heartbeats_missed"]);

/**
 * A KV watch of `subjectPrefix + filter` from now on: an ordered push
 * consumer (it re-creates itself after a gap or a server restart, from where
 * it was), with a short inactivity threshold, deleted when stopped.
 * `onTrouble` is told (with the notice's type) when the consumer meets
 * something a lost bucket would cause; the caller looks at the stream, and
 * the watch checks its own consumer (`verify`). Entries go to `onEntry` as
 * they arrive, in order, from the client's message callback: no promise or
 * iterator step per entry, which every change (and every echo of our own
 * writes) would pay. `onEntry` must not throw.
 */
export async function openKvWatch(
  js: JetStreamClient,
  jsm: JetStreamManager,
  stream: string,
  subjectPrefix: string,
  filter: string,
  onTrouble: (notice: string) => void,
  onEntry: (entry: KvWatchEntry) => void,
): Promise<KvWatchSource> {
  const consumer = await js.consumers.getPushConsumer(stream, {
    filter_subjects: subjectPrefix + filter,
    deliver_policy: DeliverPolicy.New,
  });
  const shorten = (name: string): void => expireSoonWhenIdle(jsm, stream, name);
  shorten((await consumer.info(true)).name);
  const prefixLength = subjectPrefix.length;
  const messages = await consumer.consume({ callback: (m) => onEntry(new JsKvWatchEntry(m, prefixLength)) });
  let stopped: Promise<void> | undefined;
  const source: KvWatchSource = {
    // Never settles after stop(): whoever waits on it has ended the watch itself (and nothing holds the wait, so it is collected).
    ended: messages.closed().then((error) => (stopped ? new Promise<never>(() => {}) : error instanceof Error ? error : undefined)),
    stop(): Promise<void> {
      if (stopped) return stopped;
      messages.stop();
      // The consumer is ours alone; left behind it would hold a server resource until it times out.
      stopped = consumer.delete().then(
        () => {},
        () => {},
      );
      return stopped;
    },
    async verify(deleted?: string): Promise<void> {
      if (stopped) return;
      const name = (await consumer.info(true)).name;
      if (deleted !== undefined && deleted !== name) return;
      try {
        await jsm.consumers.info(stream, name);
      } catch (error) {
        if (!isConsumerNotFound(error) || stopped) return;
        // What the client does itself once it misses two heartbeats: a new
        // consumer from the last sequence delivered (nothing lost, nothing
        // twice). A server still recovering may say "not found" of one it
        // has; replacing that one is harmless.
        const reset = (messages as unknown as { reset?: () => void }).reset;
        if (typeof reset === "function") reset.call(messages);
        else messages.stop(new Error("its consumer is gone (deleted, or the client was cut off longer than its inactivity threshold)"));
      }
    },
  };
  void (async () => {
    for await (const notice of messages.status()) {
      if (notice.type === "ordered_consumer_recreated") shorten(notice.name);
      else if (TROUBLE.has(notice.type)) {
        onTrouble(notice.type);
        void source.verify();
      }
    }
  })();
  return source;
}

class JsKvWatchEntry implements KvWatchEntry {
  readonly #m: JsMsg;
  readonly key: string;
  readonly revision: number;
  readonly value: Uint8Array;

  constructor(m: JsMsg, prefixLength: number) {
    this.#m = m;
    this.key = m.subject.slice(prefixLength);
    this.revision = m.seq;
    this.value = m.data;
  }

  get operation(): "PUT" | "DEL" | "PURGE" {
    const headers = this.#m.headers;
    const operation = headers?.get("KV-Operation");
    if (operation === "DEL" || operation === "PURGE") return operation;
    return headers?.has("Nats-Marker-Reason") ? "PURGE" : "PUT";
  }
}
