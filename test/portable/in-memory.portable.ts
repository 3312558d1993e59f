// The in-memory backends against the portable EventBus and Storage contracts.
import { InMemoryEventBus, InMemoryStorage } from "../../src/index.js";
import { eventBusContract } from "./contract/event-bus-contract.js";
import { storageContract } from "./contract/storage-contract.js";

// The contract's failing handlers would otherwise print a stack per failure.
const quiet = { error: () => {}, warn: () => {} };

eventBusContract("InMemoryEventBus", async () => new InMemoryEventBus(1000, 10, { logger: quiet }));
storageContract("InMemoryStorage", async () => new InMemoryStorage());
