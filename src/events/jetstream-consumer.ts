import {
  AckPolicy,
  DeliverPolicy,
  type ConsumerConfig,
  type ConsumerInfo,
  type ConsumerUpdateConfig,
  type JetStreamManager,
} from "@nats-io/jetstream";
import { isConsumerNotFound, isStreamNotFound } from "../nats/nats-errors.js";
import { JetStreamSetupError } from "./jetstream-errors.js";
import type { JetStreamEventBusLogger } from "./jetstream-options.js";

// An ephemeral consumer whose process vanished is removed by the server after
// this long (a clean stop deletes it); a live one keeps it active with its
// pull requests, which expire after 30 s. A subscription that outlives it (a
// long partition) recreates it where it left off.
export const EPHEMERAL_INACTIVE_THRESHOLD_MS = 60_000;

const NANOS_PER_MS = 1_000_000;

export interface ConsumerSpec {
  readonly stream: string;
  readonly filterSubject: string;
  /** A durable name; an ephemeral consumer when absent. */
  readonly durable: string | undefined;
  readonly ackWaitMs: number;
  readonly maxDeliver: number;
  readonly maxAckPending: number | undefined;
  /**
   * Recreating a consumer that was lost: deliver from this stream sequence.
   * Absent: a new consumer delivers only events published from now on, an
   * existing durable resumes where it left off.
   */
  readonly startSequence?: number;
}

export { isConsumerNotFound, isStreamNotFound };

/**
 * Creates the pull consumer a subscription reads from, or binds an existing
 * durable of that name (updating its filter and limits when they changed).
 * One filter subject per consumer: nats-server 2.9 knows no more.
 */
export async function ensureConsumer(
  jsm: JetStreamManager,
  spec: ConsumerSpec,
  logger: JetStreamEventBusLogger,
): Promise<ConsumerInfo> {
  const { stream, durable } = spec;
  const settings: Partial<ConsumerUpdateConfig> = {
    ack_wait: spec.ackWaitMs * NANOS_PER_MS,
    max_deliver: spec.maxDeliver,
    filter_subject: spec.filterSubject,
  };
  if (spec.maxAckPending !== undefined) settings.max_ack_pending = spec.maxAckPending;

  if (durable !== undefined && spec.startSequence === undefined) {
    let existing: ConsumerInfo | undefined;
    try {
      existing = await jsm.consumers.info(stream, durable);
    } catch (error) {
      if (!isConsumerNotFound(error)) throw error;
    }
    if (existing !== undefined) return adopt(jsm, existing, settings, logger);
  }

  const config: Partial<ConsumerConfig> = { ...settings, ack_policy: AckPolicy.Explicit };
  if (durable !== undefined) config.durable_name = durable;
  else config.inactive_threshold = EPHEMERAL_INACTIVE_THRESHOLD_MS * NANOS_PER_MS;
  if (spec.startSequence !== undefined) {
    config.deliver_policy = DeliverPolicy.StartSequence;
    config.opt_start_seq = spec.startSequence;
  } else {
    config.deliver_policy = DeliverPolicy.New;
  }
  return jsm.consumers.add(stream, config);
}

async function adopt(
  jsm: JetStreamManager,
  existing: ConsumerInfo,
  wanted: Partial<ConsumerUpdateConfig>,
  logger: JetStreamEventBusLogger,
): Promise<ConsumerInfo> {
  const { config, stream_name: stream, name } = existing;
  if (typeof config.deliver_subject === "string" && config.deliver_subject !== "") {
    throw new JetStreamSetupError(`durable consumer ${JSON.stringify(name)} on stream ${stream} is a push consumer; a subscription needs a pull consumer`);
  }
  if (config.ack_policy !== AckPolicy.Explicit) {
    throw new JetStreamSetupError(
      `durable consumer ${JSON.stringify(name)} on stream ${stream} has ack policy ${JSON.stringify(config.ack_policy)}; a subscription needs "explicit"`,
    );
  }
  const delta: Partial<ConsumerUpdateConfig> = {};
  for (const key of Object.keys(wanted) as (keyof ConsumerUpdateConfig)[]) {
    if (config[key as keyof ConsumerConfig] !== wanted[key]) (delta as Record<string, unknown>)[key] = wanted[key];
  }
  if (Object.keys(delta).length === 0) return existing;
  if (delta.filter_subject !== undefined) {
    logger.warn(
      { consumer: name, stream, from: config.filter_subject ?? "(none)", to: delta.filter_subject },
      `durable consumer ${JSON.stringify(name)} on stream ${stream} changes its filter from ${config.filter_subject ?? "(none)"} to ${delta.filter_subject}`,
    );
  }
  return jsm.consumers.update(stream, name, delta);
}
