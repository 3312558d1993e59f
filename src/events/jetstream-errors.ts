import { ConvergeError } from "../codec/errors.js";

/**
 * A publish that did not reach the stream: the event was not stored (or, after
 * a timeout, may have been; re-publishing the same id within the duplicate
 * window stores it at most once).
 */
export class EventPublishError extends ConvergeError {
  readonly eventId: string;
  readonly subject: string;
  constructor(eventId: string, subject: string, message: string, options?: { cause?: unknown }) {
    super("ERR_EVENT_PUBLISH", `event ${JSON.stringify(eventId)} on ${subject}: ${message}`, options);
    this.eventId = eventId;
    this.subject = subject;
  }
}

/** A stream or consumer the bus needs could not be created, updated or bound. */
export class JetStreamSetupError extends ConvergeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_JETSTREAM_SETUP", message, options);
  }
}
