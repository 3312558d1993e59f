import { describe, expect, it } from "vitest";
import { extensionNameProblem, parseCloudEvent } from "../../src/codec/cloud-event-schema.js";
import { ValidationError } from "../../src/codec/errors.js";

const base = {
  specversion: "1.0",
  id: "evt-1",
  source: "/devices",
  type: "io.example.device.created",
} as const;

function rejection(input: unknown): ValidationError {
  try {
    parseCloudEvent(input);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
}

describe("parseCloudEvent", () => {
  it("accepts a minimal event and one with every attribute", () => {
    expect(parseCloudEvent({ ...base })).toEqual(base);
    const full = {
      ...base,
      time: "2024-01-31T12:00:00.123Z",
      subject: "Device/dev-1",
      datacontenttype: "application/json",
      dataschema: "https://example.com/schema",
      data: { nested: [1, { a: null }] },
      resourcekind: "Device",
      resourceuid: "dev-1",
      reconcilekey: "Device/dev-1",
      traceparent: "00-abc-01",
      attempt: 3,
      replay: false,
    };
    expect(parseCloudEvent(full)).toEqual(full);
  });

  it("returns a copy, not the input object", () => {
    const input = { ...base, data: { x: 1 } };
    const out = parseCloudEvent(input);
    expect(out).not.toBe(input);
    expect(out.data).toBe(input.data);
  });

  it("accepts time with an offset and data of any type", () => {
    for (const time of ["2024-01-31T12:00:00Z", "2024-01-31T12:00:00+05:30", "2024-01-31t12:00:00.5-08:00"]) {
      expect(parseCloudEvent({ ...base, time }).time).toBe(time);
    }
    for (const data of [null, 0, "text", [1, 2], true]) expect(parseCloudEvent({ ...base, data }).data).toEqual(data);
  });

  it.each([
    ["event.specversion", { id: "i", source: "s", type: "a.b" }, /is required/],
    ["event.id", { specversion: "1.0", source: "s", type: "a.b" }, /is required/],
    ["event.source", { specversion: "1.0", id: "i", type: "a.b" }, /is required/],
    ["event.type", { specversion: "1.0", id: "i", source: "s" }, /is required/],
    ["event.specversion", { ...base, specversion: "0.3" }, /"0.3" must be "1.0"/],
    ["event.specversion", { ...base, specversion: 1 }, /must be "1.0"/],
    ["event.id", { ...base, id: "" }, /must not be empty/],
    ["event.id", { ...base, id: 42 }, /\(number\) must be a string/],
    ["event.id", { ...base, id: "a\r\nNats-Msg-Id: x" }, /control characters/],
    ["event.source", { ...base, source: "" }, /must not be empty/],
    ["event.type", { ...base, type: "" }, /must not be empty/],
    ["event.type", { ...base, type: "io.*.created" }, /no wildcard/],
    ["event.type", { ...base, type: "io.>" }, /no wildcard/],
    ["event.type", { ...base, type: "io..created" }, /no empty token/],
    ["event.type", { ...base, type: ["a"] }, /\(array\) must be a string|must be a string/],
    ["event.time", { ...base, time: "yesterday" }, /RFC 3339/],
    ["event.time", { ...base, time: "2024-01-31" }, /RFC 3339/],
    ["event.time", { ...base, time: new Date() }, /must be an RFC 3339 timestamp string/],
    ["event.subject", { ...base, subject: "" }, /must not be empty/],
    ["event.datacontenttype", { ...base, datacontenttype: 1 }, /must be a string/],
    ["event.resourcekind", { ...base, resourcekind: "9Device" }, /must start with a letter/],
    ["event.resourceuid", { ...base, resourceuid: "*" }, /"\*" must start with a letter or digit/],
    ["event.resourceuid", { ...base, resourceuid: ">" }, /must start with a letter or digit/],
    ["event.resourceuid", { ...base, resourceuid: "dev.*" }, /hold only letters/],
    ["event.resourceuid", { ...base, resourceuid: "a/b" }, /hold only letters/],
    ["event.reconcilekey", { ...base, reconcilekey: "Device" }, /'<kind>\/<uid>'/],
    ["event.reconcilekey", { ...base, reconcilekey: "Device/*" }, /'<kind>\/<uid>'/],
    ["event.Trace", { ...base, Trace: "x" }, /not a valid extension name/],
    ["event.trace_parent", { ...base, trace_parent: "x" }, /not a valid extension name/],
    ["event.abcdefghijklmnopqrstu", { ...base, abcdefghijklmnopqrstu: "x" }, /at most 20 characters/],
    ["event.constructor", { ...base, constructor: "x" }, /forbidden/],
    ["event.prototype", { ...base, prototype: "x" }, /forbidden/],
    ["event.ext", { ...base, ext: { nested: 1 } }, /must be a string, an integer or a boolean/],
    ["event.ext", { ...base, ext: 1.5 }, /must be a string, an integer or a boolean/],
    ["event.ext", { ...base, ext: null }, /must be a string, an integer or a boolean/],
    ["event", { ...base, data: 1, data_base64: "AQ==" }, /both data and data_base64/],
  ])("rejects with path %s", (path, input, message) => {
    const error = rejection(input);
    expect(error.path).toBe(path);
    expect(error.code).toBe("ERR_VALIDATION");
    expect(error.message.startsWith(`${path}: `)).toBe(true);
    expect(error.message).toMatch(message);
  });

  it("rejects a __proto__ key instead of dropping it", () => {
    const input = JSON.parse(`{"specversion":"1.0","id":"i","source":"s","type":"a.b","__proto__":{"polluted":true}}`);
    const error = rejection(input);
    expect(error.path).toBe("event.__proto__");
    expect(error.message).toMatch(/forbidden/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each([
    [null, /\(null\) must be a plain object/],
    [undefined, /\(undefined\) must be a plain object/],
    ["{}", /must be a plain object/],
    [[base], /\(array\) must be a plain object/],
    [new Map(Object.entries(base)), /must be a plain object/],
  ])("rejects %j as a whole with path event", (input, message) => {
    const error = rejection(input);
    expect(error.path).toBe("event");
    expect(error.message).toMatch(message);
  });

  it("accepts an object without a prototype", () => {
    const input = Object.assign(Object.create(null) as object, base);
    expect(parseCloudEvent(input)).toEqual({ ...base });
  });
});

describe("extensionNameProblem", () => {
  it("accepts lower-case alphanumeric names up to 20 characters", () => {
    for (const name of ["a", "traceparent", "x1", "abcdefghijklmnopqrst"]) expect(extensionNameProblem(name)).toBeUndefined();
  });

  it("names what is wrong otherwise", () => {
    expect(extensionNameProblem("Upper")).toMatch(/lower-case/);
    expect(extensionNameProblem("")).toMatch(/lower-case/);
    expect(extensionNameProblem("id")).toMatch(/CloudEvents attribute/);
    expect(extensionNameProblem("__proto__")).toMatch(/forbidden/);
  });
});
