import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ValidationError } from "../../src/index.js";
import { connectNats, redactServers } from "../../src/nats.js";
import { NatsServer } from "../helpers/nats-server.js";

describe("connectNats", () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await NatsServer.start({ args: ["--auth", "s3cret-token"] });
  });
  afterAll(async () => {
    await server.remove();
  });

  it("passes a token through to the server", async () => {
    const nc = await connectNats({ servers: server.url, token: "s3cret-token" });
    try {
      expect(nc.info?.jetstream).toBe(true);
    } finally {
      await nc.close();
    }
  });

  it("fails without the token when told not to wait for the first connect", async () => {
    await expect(connectNats({ servers: server.url, waitOnFirstConnect: false, maxReconnectAttempts: 0 })).rejects.toThrow();
  });

  it("rejects bad options with an error naming the option", async () => {
    await expect(connectNats({ servers: "" })).rejects.toThrow(ValidationError);
    await expect(connectNats({ servers: ["nats://ok:4222", "has space"] })).rejects.toThrow(/nats options\.servers/);
    await expect(connectNats({ servers: server.url, nkeySeed: "UABC" })).rejects.toThrow(/nkeySeed/);
    await expect(connectNats({ servers: server.url, credsFile: "/nonexistent.creds" })).rejects.toThrow(/credsFile: cannot read it/);
    await expect(connectNats({ servers: server.url, maxReconnectAttempts: -2 })).rejects.toThrow(/maxReconnectAttempts/);
  });

  it("redacts credentials from server URLs it would log", () => {
    expect(redactServers(["nats://alice:pw@h1:4222", "nats://h2:4222"])).toBe("nats://***@h1:4222,nats://h2:4222");
  });
});
