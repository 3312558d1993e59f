import { connect } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { natsUrl } from "../helpers/nats.js";

describe("test nats-server", () => {
  it("is reachable and has JetStream", async () => {
    const nc = await connect({ servers: natsUrl() });
    try {
      expect(nc.info?.jetstream).toBe(true);
      expect(nc.info?.version).toMatch(/^2\./);
    } finally {
      await nc.close();
    }
  });
});
