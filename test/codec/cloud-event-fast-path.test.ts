import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { CloudEventSchema, commonCloudEvent, parseCloudEvent } from "../../src/codec/cloud-event-schema.js";
import { newResourceEvent } from "../../src/events/resource-event.js";
import { fuzzSeed, malformedEvent, Rng, validEventFor, validToken } from "../fuzz/generators.js";

/** The fast path accepts only what the schema accepts, and builds the same object, keys in the same order. */
function expectAgreement(input: unknown): "fast" | "schema" {
  const fast = commonCloudEvent(input);
  const schema = v.safeParse(CloudEventSchema, input, { abortEarly: true });
  if (fast === undefined) return "schema";
  expect(schema.success, `the schema rejects what the fast path took: ${JSON.stringify(input)}`).toBe(true);
  if (!schema.success) return "fast";
  expect(fast).toEqual(schema.output);
  expect(Object.keys(fast)).toEqual(Object.keys(schema.output));
  return "fast";
}

describe("commonCloudEvent (parseCloudEvent's fast path)", () => {
  it("takes the events the controller and newResourceEvent make", () => {
    const event = newResourceEvent("io.converge.device.updated", "Device", "d1", { status: { state: "on" } });
    expect(expectAgreement({ ...event, reconcilekey: "Device/d1", ext1: "x", flag: true, count: 3 })).toBe("fast");
    expect(expectAgreement(JSON.parse(JSON.stringify(event)))).toBe("fast");
  });

  const seed = fuzzSeed();
  it(`agrees with the schema on valid, malformed and edge-case events (seed ${seed})`, () => {
    const rng = new Rng(seed);
    let fast = 0;
    for (let i = 0; i < 500; i++) {
      const valid = validEventFor(rng, "Device", validToken(rng));
      if (expectAgreement(valid) === "fast") fast++;
      expectAgreement(malformedEvent(rng).event);
      expectAgreement(malformedEvent(rng, { wire: true }).event);
    }
    // Every valid event the generator makes is an everyday one.
    expect(fast).toBe(500);
    const edges: unknown[] = [
      { specversion: "1.0", id: "a", source: "s", type: "t", data: undefined, data_base64: "eA==" },
      { specversion: "1.0", id: "a", source: "s", type: "t", data: null, data_base64: "eA==" },
      { specversion: "1.0", id: "a", source: "s", type: "t", time: "2024-02-30T00:00:00Z" },
      { specversion: "1.0", id: "a", source: "s", type: "t", time: "2024-01-31T23:59:60Z" },
      { specversion: "1.0", id: "a", source: "s", type: "a..b" },
      { specversion: "1.0", id: "a\u0007", source: "s", type: "t" },
      { specversion: "1.0", id: "x".repeat(257), source: "s", type: "t" },
      { specversion: "1.0", id: "a", source: "s", type: "t", reconcilekey: "/d1" },
      { specversion: "1.0", id: "a", source: "s", type: "t", reconcilekey: "Device/" },
      { specversion: "1.0", id: "a", source: "s", type: "t", subject: "" },
      { specversion: "1.0", id: "a", source: "s", type: "t", big: 2 ** 53 },
      { specversion: "1.0", id: "a", source: "s", type: "t", constructor: "x" },
      JSON.parse('{"specversion":"1.0","id":"a","source":"s","type":"t","__proto__":"x"}'),
      Object.assign(Object.create(null), { specversion: "1.0", id: "a", source: "s", type: "t" }),
      { type: "t", source: "s", id: "a", specversion: "1.0", zz: 1, data: { deep: [1, { x: null }] } },
      { specversion: "1.0", id: "a", source: "s", type: "t", data: { when: new Date(0) } },
      { specversion: "1.0", id: "a", source: "s", type: "t", data: { f: () => 1 } },
    ];
    for (const edge of edges) expectAgreement(edge);
  });

  it("leaves explaining to the schema: a bad event fails with the same error as before", () => {
    expect(() => parseCloudEvent({ specversion: "1.0", id: "a", source: "s", type: "a..b" })).toThrow(/event\.type/);
    expect(() => parseCloudEvent({ specversion: "1.0", id: "a", source: "s", type: "t", Bad: 1 })).toThrow(/event\.Bad/);
  });
});
