// Owner references: deleting a Cluster deletes the Nodes it owns; a node owned
// by another cluster, and a node with no owner, stay.
//   npm run build && node dist/examples/owner-references.js [--inline]
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
import type { OwnedNode } from "./owned-node-reconciler.js";

export interface OwnerReferencesExampleOptions {
  isolation?: Isolation;
  /** The Node reconciler: a module URL (workers import it) or an instance (inline). */
  reconciler?: URL | Reconciler;
  logger?: Logger;
}

export interface OwnerReferencesExampleResult {
  /** Every node once the controller settled, before any cluster was deleted. */
  before: Record<string, OwnedNode>;
  /** The uids of the nodes left after cluster alpha was deleted. */
  remaining: string[];
  stats: ControllerStats;
}

const NODES: OwnedNode[] = [
  { kind: "Node", uid: "alpha-1", metadata: { ownerUid: "alpha" }, spec: { role: "control-plane" } },
  { kind: "Node", uid: "alpha-2", metadata: { ownerUid: "alpha" }, spec: { role: "worker" } },
  { kind: "Node", uid: "beta-1", metadata: { ownerUid: "beta" }, spec: { role: "worker" } },
  { kind: "Node", uid: "standalone", spec: { role: "worker" } },
];

export async function runOwnerReferencesExample(options: OwnerReferencesExampleOptions = {}): Promise<OwnerReferencesExampleResult> {
  const { isolation = "worker", logger } = options;
  const eventBus = new InMemoryEventBus(1000, 10);
  await eventBus.start();
  const storage = new InMemoryStorage();
  const client = new StorageClient(storage);
  // Only Nodes have a reconciler: Clusters are plain records here.
  const controller = new Controller(eventBus, storage, { workers: 2, isolation, logger });
  await controller.registerReconciler(options.reconciler ?? new URL("./owned-node-reconciler.js", import.meta.url));

  try {
    for (const uid of ["alpha", "beta"]) await client.create({ kind: "Cluster", uid, spec: {} });
    for (const node of NODES) await client.create(node);
    await controller.start();
    await controller.idle();
    const before = Object.fromEntries(((await storage.loadAll("Node")) as OwnedNode[]).map((n) => [n.uid, n]));

    await client.delete("Cluster", "alpha");
    // A Cluster's deletion is no event about any Node: ask for every node to
    // be looked at again (the seed's manual enqueue).
    for (const uid of await storage.list("Node")) {
      controller.enqueue({ resourceKind: "Node", resourceUid: uid, reason: "Cluster alpha deleted" });
    }
    await controller.idle();

    return { before, remaining: (await storage.list("Node")).sort(), stats: controller.stats() };
  } finally {
    await controller.stop();
    await eventBus.close();
    await storage.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { before, remaining } = await runOwnerReferencesExample({ isolation: process.argv.includes("--inline") ? "inline" : "worker" });
  console.log(`nodes before deleting cluster alpha: ${Object.keys(before).sort().join(", ")}`);
  console.log(`nodes after:                         ${remaining.join(", ")}`);
}
