// Dependency management: changing a Cluster's version reconciles every node the
// cluster lists — nodes get no event of their own, the cluster enqueues them.
//   npm run build && node dist/examples/dependencies.js [--inline]
import {
  Controller,
  InMemoryEventBus,
  InMemoryStorage,
  StorageClient,
  type ControllerStats,
  type Isolation,
  type Logger,
  type Reconciler,
} from "../src/index.js";
import type { Cluster } from "./cluster-reconciler.js";
import type { Node } from "./node-reconciler.js";

export interface DependenciesExampleOptions {
  isolation?: Isolation;
  /** Module URLs (workers import them) or instances (inline). */
  clusterReconciler?: URL | Reconciler;
  nodeReconciler?: URL | Reconciler;
  logger?: Logger;
}

export interface DependenciesExampleResult {
  /** Every node once the controller settled on the first version. */
  before: Record<string, Node>;
  /** Every node once it settled after cluster alpha moved to version 1.1. */
  after: Record<string, Node>;
  alpha: Cluster;
  stats: ControllerStats;
}

export async function runDependenciesExample(options: DependenciesExampleOptions = {}): Promise<DependenciesExampleResult> {
  const { isolation = "worker", logger } = options;
  const eventBus = new InMemoryEventBus(1000, 10);
  await eventBus.start();
  const storage = new InMemoryStorage();
  const client = new StorageClient(storage);
  const controller = new Controller(eventBus, storage, { workers: 2, isolation, logger });
  await controller.registerReconciler(options.clusterReconciler ?? new URL("./cluster-reconciler.js", import.meta.url));
  await controller.registerReconciler(options.nodeReconciler ?? new URL("./node-reconciler.js", import.meta.url));

  const nodes = async (): Promise<Record<string, Node>> =>
    Object.fromEntries(((await storage.loadAll("Node")) as Node[]).map((n) => [n.uid, n]));

  try {
    const clusters: Cluster[] = [
      { kind: "Cluster", uid: "alpha", spec: { version: "1.0", nodes: ["alpha-1", "alpha-2", "alpha-3"] } },
      { kind: "Cluster", uid: "beta", spec: { version: "2.0", nodes: ["beta-1"] } },
    ];
    for (const cluster of clusters) {
      await client.create(cluster);
      for (const uid of cluster.spec.nodes) await client.create({ kind: "Node", uid, spec: { cluster: cluster.uid } } satisfies Node);
    }

    await controller.start();
    await controller.idle();
    const before = await nodes();

    // Upgrade the cluster: a spec change of the Cluster only. Nothing writes any Node.
    const alpha = (await client.get("Cluster", "alpha")) as Cluster;
    await client.update({ ...alpha, spec: { ...alpha.spec, version: "1.1" } });
    await controller.idle();

    return {
      before,
      after: await nodes(),
      alpha: (await storage.load("Cluster", "alpha")) as Cluster,
      stats: controller.stats(),
    };
  } finally {
    await controller.stop();
    await eventBus.close();
    await storage.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { after } = await runDependenciesExample({ isolation: process.argv.includes("--inline") ? "inline" : "worker" });
  for (const node of Object.values(after)) {
    console.log(`${node.uid}: version ${node.status?.version} (last changed because: ${node.status?.reconciledBecause})`);
  }
}
