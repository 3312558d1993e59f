// The seed's "Complete Example", end to end on the embedded in-memory backends:
//   npm run build && node dist/examples/device.js [--inline]
import { Controller, InMemoryEventBus, InMemoryStorage, newResourceEvent } from "../src/index.js";
import type { Device } from "./device-reconciler.js";

export async function runDeviceExample(isolation: "worker" | "inline" = "worker"): Promise<Device | undefined> {
  // Set up infrastructure.
  const eventBus = new InMemoryEventBus(1000, 10);
  await eventBus.start();
  const storage = new InMemoryStorage();
  const controller = new Controller(eventBus, storage, { workers: 5, isolation });

  // Register the reconciler by module URL: each worker imports it.
  await controller.registerReconciler(new URL("./device-reconciler.js", import.meta.url));

  await controller.start();
  try {
    // Simulate creating a device.
    const device: Device = {
      kind: "Device",
      uid: "dev-123",
      spec: { desired: "running", config: "default" },
      status: { state: "stopped" },
    };
    await storage.save(device.kind, device.uid, device);

    // Publish an event to trigger reconciliation.
    const event = newResourceEvent("io.example.device.created", "Device", device.uid, device);
    await eventBus.publish(event);

    // Wait for reconciliation (no sleep: idle() resolves when the work is done).
    await controller.idle();
    return (await storage.load("Device", "dev-123")) as Device | undefined;
  } finally {
    await controller.stop();
    await eventBus.close();
    await storage.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const device = await runDeviceExample(process.argv.includes("--inline") ? "inline" : "worker");
  console.log(`dev-123 is ${device?.status?.state}`);
}
