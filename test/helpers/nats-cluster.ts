import { rmSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { freePort, NatsServer } from "./nats-server.js";
import { pollUntil } from "./poll.js";

/**
 * Three nats-servers on loopback forming one JetStream cluster (the flags of
 * shared/FACTS.md, "NATS cluster"), for R3 buckets and streams. `kill(i)` is a
 * SIGKILL of node i, `restart(i)` brings it back on its port and store.
 */
export class NatsCluster {
  private constructor(
    readonly nodes: NatsServer[],
    readonly names: string[],
    private readonly root: string,
  ) {}

  /** Every node's URL: hand all of them to a client so it fails over. */
  get servers(): string[] {
    return this.nodes.map((node) => node.url);
  }

  static async start(size = 3): Promise<NatsCluster> {
    const root = mkdtempSync(join(tmpdir(), "converge-cluster-"));
    const clientPorts: number[] = [];
    const routePorts: number[] = [];
    for (let i = 0; i < size; i++) {
      clientPorts.push(await freePort());
      routePorts.push(await freePort());
    }
    const routes = routePorts.map((port) => `nats://127.0.0.1:${port}`).join(",");
    const names = clientPorts.map((_, i) => `n${i + 1}`);
    const nodes = await Promise.all(
      names.map((name, i) =>
        NatsServer.start({
          port: clientPorts[i],
          storeDir: mkdtempSync(join(root, `${name}-`)),
          args: ["-n", name, "--cluster_name", "c1", "-cluster", `nats://127.0.0.1:${routePorts[i]}`, "-routes", routes],
        }),
      ),
    );
    const cluster = new NatsCluster(nodes, names, root);
    await cluster.waitForMetaLeader();
    return cluster;
  }

  /**
   * Resolves once JetStream answers API calls (a metadata leader is elected)
   * and can place an R3 stream: a leader that does not know its peers yet
   * answers "no suitable peers for placement".
   */
  async waitForMetaLeader(): Promise<void> {
    const nc = await this.connect();
    try {
      // jetstreamManager() asks the account info itself: it answers once a meta leader is elected.
      await pollUntil(async () => (await jetstreamManager(nc, { timeout: 1000 })) !== undefined, "a JetStream meta leader", 30_000, 100);
      const jsm = await jetstreamManager(nc, { timeout: 5000 });
      const name = `placement_probe_${process.pid}`;
      await pollUntil(
        async () => {
          await jsm.streams.add({ name, subjects: [`${name}.>`], num_replicas: this.nodes.length });
          return true;
        },
        "an R3 stream to be placeable",
        30_000,
        100,
      );
      await jsm.streams.delete(name).catch(() => {});
    } finally {
      await nc.close();
    }
  }

  /** A client that knows every node (and reconnects forever). */
  connect(name?: string): Promise<NatsConnection> {
    return connect({ servers: this.servers, name, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  }

  /** The node name (n1..n3) leading the stream, as the cluster reports it. */
  async streamLeader(stream: string): Promise<string | undefined> {
    const nc = await this.connect();
    try {
      const jsm = await jetstreamManager(nc, { timeout: 2000 });
      return (await jsm.streams.info(stream)).cluster?.leader;
    } finally {
      await nc.close();
    }
  }

  async kill(index: number): Promise<void> {
    await this.nodes[index].kill();
  }

  async restart(index: number): Promise<void> {
    await this.nodes[index].restart();
  }

  /** Stops every node and removes their stores. */
  async remove(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.stop()));
    rmSync(this.root, { recursive: true, force: true });
  }
}
