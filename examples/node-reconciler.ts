// The seed's "Dependency Management", child side: a Node converges to what its
// Cluster declares, read through the controller's client.
import { BaseReconciler, type ReconcileContext, type Resource } from "../src/index.js";
import type { Cluster } from "./cluster-reconciler.js";

export interface NodeSpec {
  /** Uid of the Cluster this node belongs to. */
  cluster: string;
}

export interface NodeStatus {
  /** The node found its cluster. */
  clusterSeen: boolean;
  /** The cluster version the node now runs. */
  version?: string;
  /** Why the last reconcile that changed this status ran (ReconcileRequest.reason). */
  reconciledBecause?: string;
}

export type Node = Resource<NodeSpec, NodeStatus>;

export default class NodeReconciler extends BaseReconciler<Node> {
  readonly resourceKind = "Node";

  async reconcile(ctx: ReconcileContext, node: Node): Promise<void> {
    const cluster = await this.client.get<Cluster>(ctx, "Cluster", node.spec.cluster);
    const version = cluster?.spec.version;
    // Check actual state first: a node already at its cluster's version needs no write.
    if (node.status?.clusterSeen === (cluster !== undefined) && node.status.version === version) return;

    this.logger.info(`Node ${node.uid}: cluster ${node.spec.cluster} wants version ${version ?? "(no cluster)"} (reason: ${ctx.request.reason ?? "none"})`);
    node.status = { clusterSeen: cluster !== undefined, reconciledBecause: ctx.request.reason ?? "unknown" };
    if (version !== undefined) node.status.version = version;
    await this.updateStatus(ctx, node);
  }
}
