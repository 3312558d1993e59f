// The EventBus contract for vitest: the same checks the portable suite runs on
// Node, Bun and Deno (test/portable/contract/event-bus-contract.ts), written once.
import { afterEach, beforeEach, describe, it } from "vitest";
import type { EventBus } from "../../src/index.js";
import { eventBusContract as contract, type TestApi } from "../portable/contract/event-bus-contract.js";

export { event, recorder, uniquePrefix, type Recorder } from "../portable/contract/event-bus-contract.js";
export { SAFETY_TIMEOUT_MS } from "../portable/harness.js";

export function eventBusContract<B extends EventBus>(name: string, makeBus: () => Promise<B>, teardown?: (bus: B) => Promise<void>): void {
  contract(name, makeBus, teardown, { describe, it, beforeEach, afterEach } as TestApi);
}
