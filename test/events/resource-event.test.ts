import { describe, expect, it } from "vitest";
import { parseCloudEvent } from "../../src/codec/cloud-event-schema.js";
import { ValidationError } from "../../src/codec/errors.js";
import { newResourceEvent } from "../../src/events/resource-event.js";

function validationPath(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).path;
  }
  throw new Error("expected a ValidationError");
}

describe("newResourceEvent", () => {
  it("builds a CloudEvents 1.0 event about kind/uid", () => {
    const before = Date.now();
    const e = newResourceEvent("io.example.device.created", "Device", "dev-123", { name: "d" });
    expect(e).toMatchObject({
      specversion: "1.0",
      source: "converge",
      type: "io.example.device.created",
      subject: "Device/dev-123",
      datacontenttype: "application/json",
      data: { name: "d" },
      resourcekind: "Device",
      resourceuid: "dev-123",
    });
    expect(e.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(Date.parse(e.time!)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(e.time).toBe(new Date(Date.parse(e.time!)).toISOString());
    // What it builds is what the bus accepts.
    expect(parseCloudEvent(e)).toEqual(e);
  });

  it("gives every event its own id", () => {
    const ids = new Set(Array.from({ length: 100 }, () => newResourceEvent("a.b", "K", "u", null).id));
    expect(ids.size).toBe(100);
  });

  it("takes source, subject, id, time and extensions from options", () => {
    const e = newResourceEvent("a.b", "Device", "d1", 1, {
      source: "/controllers/x",
      subject: "custom",
      id: "evt-1",
      time: new Date("2024-05-06T07:08:09.010Z"),
      extensions: { traceparent: "00-1-2-01", tenant1: "acme" },
    });
    expect(e).toMatchObject({ source: "/controllers/x", subject: "custom", id: "evt-1", time: "2024-05-06T07:08:09.010Z" });
    expect(e.traceparent).toBe("00-1-2-01");
    expect(e.tenant1).toBe("acme");
    expect(newResourceEvent("a.b", "D", "d", 1, { time: "2024-05-06T09:08:09+02:00" }).time).toBe("2024-05-06T09:08:09+02:00");
    expect(parseCloudEvent(e)).toEqual(e);
  });

  it.each([
    ["type", () => newResourceEvent("a.*", "Device", "d", 1)],
    ["type", () => newResourceEvent("", "Device", "d", 1)],
    ["type", () => newResourceEvent("a..b", "Device", "d", 1)],
    ["type", () => newResourceEvent(7 as unknown as string, "Device", "d", 1)],
    ["kind", () => newResourceEvent("a.b", "1Device", "d", 1)],
    ["kind", () => newResourceEvent("a.b", "Dev.ice", "d", 1)],
    ["kind", () => newResourceEvent("a.b", "", "d", 1)],
    ["uid", () => newResourceEvent("a.b", "Device", "*", 1)],
    ["uid", () => newResourceEvent("a.b", "Device", ">", 1)],
    ["uid", () => newResourceEvent("a.b", "Device", "a.b", 1)],
    ["uid", () => newResourceEvent("a.b", "Device", "../etc", 1)],
    ["uid", () => newResourceEvent("a.b", "Device", "dev 1", 1)],
    ["options.time", () => newResourceEvent("a.b", "Device", "d", 1, { time: "yesterday" })],
    ["options.time", () => newResourceEvent("a.b", "Device", "d", 1, { time: new Date(Number.NaN) })],
    ["options.id", () => newResourceEvent("a.b", "Device", "d", 1, { id: "" })],
    ["options.source", () => newResourceEvent("a.b", "Device", "d", 1, { source: "" })],
    ["options.extensions.Trace", () => newResourceEvent("a.b", "Device", "d", 1, { extensions: { Trace: "x" } })],
    ["options.extensions.type", () => newResourceEvent("a.b", "Device", "d", 1, { extensions: { type: "x" } })],
    ["options.extensions.constructor", () => newResourceEvent("a.b", "Device", "d", 1, { extensions: { constructor: "x" } })],
    ["options.extensions.n", () => newResourceEvent("a.b", "Device", "d", 1, { extensions: { n: 1 as unknown as string } })],
  ])("names %s when it is invalid", (path, make) => {
    expect(validationPath(make)).toBe(path);
  });

  it("says what was wrong with the value", () => {
    expect(() => newResourceEvent("a.b", "Device", "dev*", 1)).toThrow(/^uid: "dev\*" must start with a letter or digit/);
  });
});
