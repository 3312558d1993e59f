import { describe, expect, it } from "vitest";
import { silentLogger } from "../../src/index.js";
import OwnedNodeReconciler from "../../examples/owned-node-reconciler.js";
import { runOwnerReferencesExample } from "../../examples/owner-references.js";
import { distUrl } from "../helpers/converged.js";

describe.each(["worker", "inline"] as const)("owner references example (%s)", (isolation) => {
  it("deletes the nodes of a deleted cluster; nodes of a live cluster and unowned nodes stay", async () => {
    const { before, remaining } = await runOwnerReferencesExample({
      isolation,
      reconciler: isolation === "worker" ? distUrl("examples/owned-node-reconciler.js") : new OwnedNodeReconciler(),
      logger: silentLogger,
    });

    // While every owner existed, every node was reconciled and kept.
    expect(Object.keys(before).sort()).toEqual(["alpha-1", "alpha-2", "beta-1", "standalone"]);
    expect(before["alpha-1"].status).toEqual({ ownerSeen: true });
    expect(before["beta-1"].status).toEqual({ ownerSeen: true });
    expect(before["standalone"].status).toEqual({ ownerSeen: false });

    expect(remaining).toEqual(["beta-1", "standalone"]);
  });
});
