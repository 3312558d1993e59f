import { ValidationError } from "../codec/errors.js";

/**
 * What metrics need of a NATS connection: its status stream (nats.js v3's
 * `NatsConnection` fits). Structural, so `reconcile` imports no NATS package.
 */
export interface NatsStatusSource {
  status(): AsyncIterable<{ type: string }>;
  isClosed?(): boolean;
}

export type NatsConnectionChange = "disconnect" | "reconnect" | "close";

/**
 * Calls `onChange` for every disconnect, reconnect and the close of `nc`
 * (other statuses — pings, cluster updates, errors — are not connection
 * changes). Ends by itself at close; the returned function ends it earlier.
 */
export function followNatsStatus(nc: NatsStatusSource, onChange: (change: NatsConnectionChange) => void): () => void {
  if (nc === null || typeof nc !== "object" || typeof nc.status !== "function") {
    throw new ValidationError("nats connection", "must have a status() method (a NatsConnection from connectNats)");
  }
  const statuses = nc.status();
  let stopped = false;
  void (async () => {
    try {
      for await (const status of statuses) {
        if (stopped) return;
        const type = status.type;
        if (type === "disconnect" || type === "reconnect" || type === "close") onChange(type);
        if (type === "close") return;
      }
    } catch {
      // A failed status stream ends the watch; the connection reports its own errors.
    }
  })();
  return () => {
    stopped = true;
    // nats.js's status iterator ends at once on stop(); a bare async iterable ends at its next status.
    (statuses as { stop?: () => void }).stop?.();
  };
}
