import type { CloudEvent } from "./cloud-event.js";

/** Called once per delivered event; a throw or rejection is logged and isolated. */
export type EventHandler = (event: CloudEvent) => void | Promise<void>;

export interface SubscribeOptions {
  /** A durable name: a backend that persists subscriptions resumes where this name left off. */
  durable?: string;
}

export interface Subscription {
  readonly id: string;
  readonly pattern: string;
  /** Stops deliveries; an event being handled finishes first. */
  unsubscribe(): Promise<void>;
}

export interface PublishOptions {
  signal?: AbortSignal;
}

/**
 * Carries CloudEvents from publishers to subscribers whose pattern matches the
 * event type. Patterns: dot-separated tokens, `*` is exactly one token, `**`
 * (last token only) one or more.
 */
export interface EventBus {
  /** Begins delivery. Idempotent; publish before start is buffered. */
  start(): Promise<void>;
  /** Resolves once the bus has accepted the event (waits while it is full). */
  publish(event: CloudEvent, options?: PublishOptions): Promise<void>;
  subscribe(pattern: string, handler: EventHandler, options?: SubscribeOptions): Promise<Subscription>;
  /** Refuses new publishes, delivers what it accepted, then stops. */
  close(): Promise<void>;
}
