import type { JsMsg } from "@nats-io/jetstream";
import { headers, Match, type MsgHdrs } from "@nats-io/transport-node";

/** Headers a dead letter carries next to the original body. */
export const DeadLetterHeaders = {
  /** Why the event was given up on (a handler error, a decode failure). */
  reason: "Converge-Dead-Letter-Reason",
  /** The subject the event was published on. */
  subject: "Converge-Original-Subject",
  stream: "Converge-Original-Stream",
  /** The event's sequence number in the original stream. */
  sequence: "Converge-Original-Sequence",
  /** How many times it was delivered to the subscription that gave up. */
  deliveries: "Converge-Delivery-Count",
  /** The consumer (subscription) that gave up. */
  consumer: "Converge-Consumer",
  /** Set (to the body's size in bytes) when the body was too large to keep next to these headers. */
  bodyDropped: "Converge-Dead-Letter-Body-Dropped",
} as const;

// Header values are one line; a long stack-like message is cut, not refused.
const MAX_REASON = 1000;

/** `<deadLetterSubject>.<the original subject after the event prefix>`. */
export function deadLetterSubjectFor(deadLetterSubject: string, subjectPrefix: string, original: string): string {
  const rest = original.startsWith(`${subjectPrefix}.`) ? original.slice(subjectPrefix.length + 1) : original;
  return `${deadLetterSubject}.${rest}`;
}

/**
 * The headers of `m`'s dead letter: the reason, where it came from, how often
 * it was tried, the original content type, and a Nats-Msg-Id so that a retried
 * dead-letter publish is stored once.
 */
export function deadLetterHeaders(m: JsMsg, reason: string): MsgHdrs {
  const info = m.info;
  const h = headers();
  h.set(DeadLetterHeaders.reason, oneLine(reason));
  h.set(DeadLetterHeaders.subject, m.subject);
  h.set(DeadLetterHeaders.stream, info.stream);
  h.set(DeadLetterHeaders.sequence, String(info.streamSequence));
  h.set(DeadLetterHeaders.deliveries, String(info.deliveryCount));
  h.set(DeadLetterHeaders.consumer, info.consumer);
  const contentType = m.headers?.get("content-type", Match.IgnoreCase);
  if (contentType) h.set("content-type", contentType);
  h.set("Nats-Msg-Id", `${info.stream}:${info.consumer}:${info.streamSequence}`);
  return h;
}

function oneLine(text: string): string {
  const flat = text.replace(/[\p{Cc}]+/gu, " ").trim();
  return flat.length > MAX_REASON ? `${flat.slice(0, MAX_REASON)}…` : flat || "(no reason given)";
}
