import { headers } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { EncodedHeaders } from "../../src/nats/encoded-headers.js";

type WithEncode = { encode(): Uint8Array };
const decoder = new TextDecoder();

function natsHeaders(entries: [string, string][]): WithEncode {
  const h = headers();
  for (const [k, v] of entries) h.append(k, v);
  return h as unknown as WithEncode;
}

describe("EncodedHeaders", () => {
  const entries: [string, string][] = [
    ["Nats-Msg-Id", "abc123"],
    ["Nats-Expected-Last-Subject-Sequence", "42"],
    ["KV-Operation", " DEL "],
  ];

  it("encodes to the bytes nats.js's own headers give", () => {
    expect(decoder.decode(new EncodedHeaders(entries).encode())).toBe(decoder.decode(natsHeaders(entries).encode()));
    expect(decoder.decode(new EncodedHeaders([]).encode())).toBe(decoder.decode(natsHeaders([]).encode()));
  });

  it("reads like any MsgHdrs", () => {
    const h = new EncodedHeaders(entries);
    expect(h.get("Nats-Msg-Id")).toBe("abc123");
    expect(h.get("KV-Operation")).toBe("DEL");
    expect(h.has("Missing")).toBe(false);
    expect(h.keys()).toEqual(["Nats-Msg-Id", "Nats-Expected-Last-Subject-Sequence", "KV-Operation"]);
    expect(h.values("Nats-Expected-Last-Subject-Sequence")).toEqual(["42"]);
    expect([...h].map(([k]) => k)).toEqual(h.keys());
    expect(h.hasError).toBe(false);
  });

  it("encodes again after a change", () => {
    const h = new EncodedHeaders(entries);
    h.set("Nats-Msg-Id", "other");
    h.delete("KV-Operation");
    h.append("X-Extra", "1");
    const expected = natsHeaders([
      ["Nats-Expected-Last-Subject-Sequence", "42"],
      ["Nats-Msg-Id", "other"],
      ["X-Extra", "1"],
    ]);
    expect(decoder.decode(h.encode())).toBe(decoder.decode(expected.encode()));
  });

  it("refuses a name that is not a token and a value with a line break, naming the header", () => {
    expect(() => new EncodedHeaders([["Bad Name", "x"]])).toThrow(/header name "Bad Name" is not a token/);
    expect(() => new EncodedHeaders([["Nats-Msg-Id", "a\r\nInjected: 1"]])).toThrow(/header Nats-Msg-Id: the value must not hold/);
  });
});
