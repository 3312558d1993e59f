// The seed's complete example (examples/device.ts) in both isolation modes. On
// Bun and Deno the worker imports examples/device-reconciler.ts directly; on
// Node it runs the built dist/examples/device-reconciler.js.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runDeviceExample } from "../../examples/device.js";
import { findCondition } from "../../src/index.js";
import { capturingConsoleLog } from "./harness.js";
import { SEED_OUTPUT, positionsInOrder } from "../fixtures/seed-output.js";

for (const isolation of ["worker", "inline"] as const) {
  describe(`device example (${isolation})`, () => {
    it("converges dev-123 to running with Ready=True and prints the seed's output in order", { timeout: 20_000 }, async () => {
      const previous = process.env.CONVERGE_LOG_LEVEL;
      process.env.CONVERGE_LOG_LEVEL = "debug";
      try {
        const { value: device, lines } = await capturingConsoleLog(() => runDeviceExample(isolation));
        assert.equal(device?.status?.state, "running");
        const ready = findCondition(device?.status?.conditions, "Ready");
        assert.deepEqual(
          { status: ready?.status, reason: ready?.reason, message: ready?.message },
          { status: "True", reason: "DeviceRunning", message: "Device is running" },
        );
        const positions = positionsInOrder(lines, SEED_OUTPUT);
        assert.ok(positions.every((p) => p >= 0), `missing or out of order in:\n${lines.join("\n")}`);
      } finally {
        if (previous === undefined) delete process.env.CONVERGE_LOG_LEVEL;
        else process.env.CONVERGE_LOG_LEVEL = previous;
      }
    });
  });
}
