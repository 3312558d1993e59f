// Piscina worker of the naive e2e baseline: one task per key, the resource
// structured-cloned in, the new status cloned back.
import type { BenchDevice } from "./device.js";

export default function reconcileOne(device: BenchDevice): BenchDevice["status"] {
  return { state: device.spec.desired };
}
