// The seed's "Dependency Management", parent side: a Cluster does not touch its
// nodes itself; it asks the controller to reconcile each of them.
import { BaseReconciler, type ReconcileContext, type Resource } from "../src/index.js";

export interface ClusterSpec {
  /** Version every node of the cluster should run. */
  version: string;
  /** Uids of the cluster's Node resources. */
  nodes: string[];
}

export interface ClusterStatus {
  /** The spec version whose nodes were last enqueued. */
  observedVersion: string;
}

export type Cluster = Resource<ClusterSpec, ClusterStatus>;

export default class ClusterReconciler extends BaseReconciler<Cluster> {
  readonly resourceKind = "Cluster";

  async reconcile(ctx: ReconcileContext, cluster: Cluster): Promise<void> {
    this.logger.info(`Reconciling cluster ${cluster.uid} (version ${cluster.spec.version}, ${cluster.spec.nodes.length} nodes)`);

    // Reconcile dependent nodes: a node gets no event of its own when its
    // cluster changes, so without this it would never learn the new version.
    for (const nodeUid of cluster.spec.nodes) {
      this.enqueue(ctx, { resourceKind: "Node", resourceUid: nodeUid, reason: "Cluster update" });
    }

    cluster.status = { observedVersion: cluster.spec.version };
    await this.updateStatus(ctx, cluster);
  }
}
