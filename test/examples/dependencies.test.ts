import { describe, expect, it } from "vitest";
import { silentLogger } from "../../src/index.js";
import ClusterReconciler from "../../examples/cluster-reconciler.js";
import { runDependenciesExample } from "../../examples/dependencies.js";
import NodeReconciler from "../../examples/node-reconciler.js";
import { distUrl } from "../helpers/converged.js";

describe.each(["worker", "inline"] as const)("dependencies example (%s)", (isolation) => {
  it("reconciles every node of a changed cluster because the cluster enqueued it, and no other node", async () => {
    const { before, after, alpha } = await runDependenciesExample({
      isolation,
      clusterReconciler: isolation === "worker" ? distUrl("examples/cluster-reconciler.js") : new ClusterReconciler(),
      nodeReconciler: isolation === "worker" ? distUrl("examples/node-reconciler.js") : new NodeReconciler(),
      logger: silentLogger,
    });

    expect(Object.keys(before).sort()).toEqual(["alpha-1", "alpha-2", "alpha-3", "beta-1"]);
    for (const uid of ["alpha-1", "alpha-2", "alpha-3"]) {
      expect(before[uid].status).toMatchObject({ clusterSeen: true, version: "1.0" });
      // Nothing wrote these nodes after the upgrade but their own reconciles,
      // which ran because the cluster asked.
      expect(after[uid].status).toEqual({ clusterSeen: true, version: "1.1", reconciledBecause: "Cluster update" });
    }
    expect(alpha.status).toEqual({ observedVersion: "1.1" });

    // beta's node is not alpha's dependent: untouched.
    expect(before["beta-1"].status).toMatchObject({ clusterSeen: true, version: "2.0" });
    expect(after["beta-1"]).toEqual(before["beta-1"]);
  });
});
