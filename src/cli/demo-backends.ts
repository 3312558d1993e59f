import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { EventBus } from "../events/event-bus.js";
import { InMemoryEventBus } from "../events/in-memory-event-bus.js";
import { JetStreamEventBus } from "../events/jetstream-event-bus.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { connectNats, redactServers } from "../events/nats-connection.js";
import type { Logger } from "../reconcile/logger.js";
import { InMemoryStorage } from "../storage/in-memory-storage.js";
import { KvStorage } from "../storage/kv-storage.js";
import type { Storage } from "../storage/storage.js";

/** The names the demo owns on a NATS server: reset at the start of every run. */
export const DEMO_BUCKET = "converge_demo";
export const DEMO_STREAM = "CONVERGE_DEMO";
/** The leases of `demo --controllers N`. */
export const DEMO_SHARDS = "converge_demo_shards";
const DEMO_SUBJECT_PREFIX = "converge.demo";
const DEMO_DEAD_LETTERS = "converge.demo_deadletter";

export interface DemoBackends {
  bus: EventBus;
  storage: Storage;
  /** For the summary, without credentials. */
  description: string;
  /** The NATS connection, when on NATS (for its reconnect metrics). */
  connection?: NatsConnection;
  close(): Promise<void>;
}

/**
 * In-memory by default; NATS JetStream + KV when `nats` names servers. The
 * demo itself resets its bucket and stream; its controller processes
 * (`reset: false`) join what the demo set up.
 */
export async function openDemoBackends(nats: string | undefined, logger: Logger, { reset = true }: { reset?: boolean } = {}): Promise<DemoBackends> {
  if (nats === undefined) {
    const bus = new InMemoryEventBus(1_000, 10, { logger });
    const storage = new InMemoryStorage();
    return {
      bus,
      storage,
      description: "in-memory",
      async close() {
        await bus.close();
        await storage.close();
      },
    };
  }
  const servers = nats.split(",");
  // A demo should say at once that the server is not there, not wait for it forever.
  const nc = await connectNats({ servers, maxReconnectAttempts: -1, waitOnFirstConnect: false }).catch((error: unknown) => {
    throw new Error(`cannot connect to NATS at ${redactServers(servers)}: ${(error as Error).message}`, { cause: error });
  });
  try {
    if (reset) {
      await new Kvm(nc).open(DEMO_BUCKET).then((kv) => kv.destroy()).catch(() => {});
      await new Kvm(nc).open(DEMO_SHARDS).then((kv) => kv.destroy()).catch(() => {});
      const jsm = await jetstreamManager(nc);
      for (const stream of [DEMO_STREAM, `${DEMO_STREAM}_DLQ`]) await jsm.streams.delete(stream).catch(() => {});
    }
    const storage = await KvStorage.open(nc, { bucket: DEMO_BUCKET, logger });
    const bus = new JetStreamEventBus(nc, {
      stream: DEMO_STREAM,
      subjectPrefix: DEMO_SUBJECT_PREFIX,
      deadLetterSubject: DEMO_DEAD_LETTERS,
      logger,
    });
    return {
      bus,
      storage,
      connection: nc,
      description: `NATS JetStream + KV at ${redactServers(servers)}`,
      async close() {
        await bus.close();
        await storage.close();
        await nc.close();
      },
    };
  } catch (error) {
    await nc.close();
    throw error;
  }
}
