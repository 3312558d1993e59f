import type { JetStreamApiError } from "@nats-io/jetstream";

/**
 * nats-server answers every failure to set up a stream's or consumer's files
 * with one fixed sentence and logs the cause. Under load it can pass (ours
 * failed once in CI on a fresh stream name; others see it while a stream of the
 * same name is still being removed); a lasting cause, such as a full disk,
 * fails every attempt of a bounded retry and surfaces after the last one.
 */
export function isStoreCreateFailure(error: JetStreamApiError): boolean {
  return error.status === 500 && /^error creating store for (stream|consumer)$/.test(error.message);
}
