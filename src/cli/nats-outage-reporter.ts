import type { NatsConnection } from "@nats-io/transport-node";

/** The connection's own status events, as the reporter needs them. */
export interface ConnectionStatusSource {
  status(): AsyncIterable<{ type: string; server?: string }>;
}

/**
 * Says when NATS goes away and when it is back (with how long it was away),
 * once each: the progress line alone would show a fleet that simply stopped.
 * `now` is injected (ms) so the duration can be tested with a fake clock.
 */
export class NatsOutageReporter {
  readonly #print: (line: string) => void;
  readonly #now: () => number;
  #since: number | undefined;
  #watching: Promise<void> | undefined;

  constructor(print: (line: string) => void, now: () => number = () => performance.now()) {
    this.#print = print;
    this.#now = now;
  }

  /** True between a disconnect and the reconnect that ends it. */
  get unavailable(): boolean {
    return this.#since !== undefined;
  }

  /** Follows the connection's status until it closes. */
  watch(connection: NatsConnection | ConnectionStatusSource): void {
    this.#watching = (async () => {
      for await (const status of connection.status()) this.observe(status);
    })().catch(() => {});
  }

  /** One status event of the connection. */
  observe(status: { type: string; server?: string }): void {
    if (status.type === "disconnect" && this.#since === undefined) {
      this.#since = this.#now();
      this.#print(`NATS unavailable: lost the connection to ${status.server ?? "the server"}; reconnecting (reconciles wait until it is back)`);
    } else if (status.type === "reconnect" && this.#since !== undefined) {
      const away = (this.#now() - this.#since) / 1_000;
      this.#since = undefined;
      this.#print(`NATS is back (${status.server ?? "the server"}) after ${away.toFixed(1)} s away`);
    }
  }

  /** Resolves once the status stream has ended (the connection closed). */
  async closed(): Promise<void> {
    await this.#watching;
  }
}
