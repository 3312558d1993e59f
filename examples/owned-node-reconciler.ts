// The seed's "Owner References": a Node whose owner Cluster is gone deletes
// itself, the way Kubernetes garbage-collects dependents of a deleted owner.
import { BaseReconciler, type ReconcileContext, type Resource } from "../src/index.js";

export interface OwnedNodeSpec {
  role: string;
}

export interface OwnedNodeStatus {
  /** The owner was found at the last reconcile (or the node has none). */
  ownerSeen: boolean;
}

/** `metadata.ownerUid` holds the uid of the Cluster that owns the node. */
export type OwnedNode = Resource<OwnedNodeSpec, OwnedNodeStatus>;

export default class OwnedNodeReconciler extends BaseReconciler<OwnedNode> {
  readonly resourceKind = "Node";

  async reconcile(ctx: ReconcileContext, node: OwnedNode): Promise<void> {
    const ownerUid = node.metadata?.ownerUid;
    if (ownerUid !== undefined) {
      const owner = await this.client.get(ctx, "Cluster", ownerUid);
      if (owner === undefined) {
        // Owner deleted - delete this node. Nothing else to do: a deleted
        // resource has no status to write.
        this.logger.info(`Owner Cluster/${ownerUid} of Node/${node.uid} is gone: deleting the node`);
        await this.client.delete(ctx, "Node", node.uid);
        return;
      }
    }
    node.status = { ownerSeen: ownerUid !== undefined };
    await this.updateStatus(ctx, node);
  }
}
