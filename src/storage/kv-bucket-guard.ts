import type { JetStreamManager, StreamInfo } from "@nats-io/jetstream";
import { isStreamNotFound } from "../nats/nats-errors.js";
import { KvBucketResetError } from "./kv-errors.js";
import type { KvStorageLogger } from "./kv-options.js";
import { type RetryPolicy, withRetries } from "./kv-retry.js";

export interface KvBucketGuardOptions {
  readonly bucket: string;
  readonly stream: string;
  readonly jsm: JetStreamManager;
  /** Creates the bucket with the storage's options (a no-op when it exists alike). */
  readonly create: () => Promise<unknown>;
  readonly retry: RetryPolicy;
  readonly closing: AbortSignal;
  readonly logger: KvStorageLogger;
  /** Told once per loss, after the bucket exists again: end the watches with this error. */
  readonly onReset: (error: KvBucketResetError) => void;
}

/**
 * Notices that the bucket a KvStorage uses was lost while it ran — deleted,
 * or the server restarted with a wiped store — and puts it back. The stream
 * is known by its creation time: a stream of the same name created since, or
 * whose sequence went back below one this storage has seen, is another
 * bucket. The watches, whose consumers would otherwise wait for ever on a
 * stream that is gone or start past its end, end with `KvBucketResetError`,
 * so their callers watch again and relist.
 */
export class KvBucketGuard {
  readonly #o: KvBucketGuardOptions;
  /** When the bucket's stream was created, as the server says; its identity. */
  #created: string;
  /** The highest stream sequence this storage has seen (writes, reads, watches). */
  #highest = 0;
  #checking: Promise<boolean> | undefined;
  #resets = 0;
  #lost = false;

  constructor(options: KvBucketGuardOptions, info: StreamInfo) {
    this.#o = options;
    this.#created = info.created;
    this.#highest = info.state.last_seq;
  }

  /** Times the bucket was found lost and re-created. */
  get resets(): number {
    return this.#resets;
  }

  /** True from finding the bucket lost until it exists again. */
  get lost(): boolean {
    return this.#lost;
  }

  /**
   * A sequence this storage saw. (One below the highest is no sign by itself:
   * answers to concurrent writes and the watch arrive in any order.)
   */
  saw(sequence: number): void {
    if (sequence > this.#highest) this.#highest = sequence;
  }

  /**
   * Looks at the stream (once at a time: concurrent callers share the look)
   * and puts the bucket back when it was lost. Resolves true when it did; false
   * when the bucket is the one it was, or the server did not answer (a later
   * trouble looks again). Never rejects.
   */
  check(): Promise<boolean> {
    this.#checking ??= this.#check().finally(() => (this.#checking = undefined));
    return this.#checking;
  }

  async #check(): Promise<boolean> {
    const { bucket, stream, jsm } = this.#o;
    if (this.#o.closing.aborted) return false;
    const what = `KV bucket "${bucket}"`;
    let why: string | undefined;
    // Seen before the request: writes answered while it is in flight may pass what it reports.
    const highest = this.#highest;
    try {
      const info = await withRetries(`${what}: stream info`, this.#o.retry, this.#o.closing, () => jsm.streams.info(stream));
      if (info.created !== this.#created) why = `its stream ${stream} was created again (at ${info.created})`;
      else if (info.state.last_seq < highest) why = `its stream ${stream} went back from sequence ${highest} to ${info.state.last_seq}`;
    } catch (error) {
      if (!isStreamNotFound(error)) return false;
      why = `its stream ${stream} is gone`;
    }
    // A closed storage owns nothing any more: it must not put back a bucket its owner removed.
    if (why === undefined || this.#o.closing.aborted) return false;
    this.#lost = true;
    this.#o.logger.warn(`${what} was lost (${why}): re-creating it, then watching again; what it held before is gone`);
    try {
      await withRetries(`${what}: create`, this.#o.retry, this.#o.closing, this.#o.create);
      const info = await withRetries(`${what}: stream info`, this.#o.retry, this.#o.closing, () => jsm.streams.info(stream));
      this.#created = info.created;
      this.#highest = info.state.last_seq;
    } catch (error) {
      this.#o.logger.warn(`${what} could not be re-created; the next trouble tries again:`, error);
      return false;
    }
    this.#lost = false;
    this.#resets++;
    this.#o.onReset(new KvBucketResetError(bucket, why));
    return true;
  }
}
