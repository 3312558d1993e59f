// The Storage contract for vitest: the same checks the portable suite runs on
// Node, Bun and Deno (test/portable/contract/storage-contract.ts), written once.
import { afterEach, beforeEach, describe, it } from "vitest";
import type { Storage } from "../../src/index.js";
import type { TestApi } from "../portable/contract/event-bus-contract.js";
import { storageContract as contract } from "../portable/contract/storage-contract.js";

export { BAD_NAMES } from "../portable/contract/storage-contract.js";

export function storageContract(name: string, makeStorage: () => Promise<Storage>, teardown?: (s: Storage) => Promise<void>): void {
  contract(name, makeStorage, teardown, { describe, it, beforeEach, afterEach } as TestApi);
}
