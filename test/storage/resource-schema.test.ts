import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { ValidationError } from "../../src/codec/errors.js";
import { MAX_RESOURCE_DEPTH, parseResource, ResourceSchema } from "../../src/codec/resource-schema.js";

function failure(input: unknown, path?: string): ValidationError {
  try {
    parseResource(input, path);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).code).toBe("ERR_VALIDATION");
    return error as ValidationError;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
}

/** `{ a: { a: … leaf } }` with `levels` objects. */
function nested(levels: number, leaf: unknown = 1): unknown {
  let value = leaf;
  for (let i = 0; i < levels; i++) value = { a: value };
  return value;
}

const base = { kind: "Device", uid: "d1", spec: {} };

describe("parseResource", () => {
  it("accepts a full resource and keeps unknown keys", () => {
    const input = {
      kind: "Device",
      uid: "d-1_a=",
      metadata: {
        generation: 0,
        revision: 7,
        ownerUid: "rack-1",
        labels: { zone: "eu-1", "app.kubernetes.io/name": "x" },
        finalizers: ["cleanup"],
        deletedAt: "2024-05-01T10:00:00.123+02:00",
        annotations: { note: "kept" },
      },
      spec: { port: 8080, list: [1, "two", null, { three: 3 }] },
      status: { phase: "Ready" },
      apiVersion: "v1",
    };
    expect(parseResource(input)).toEqual(input);
  });

  it("accepts any defined spec, including falsy ones, and no status", () => {
    for (const spec of [0, "", false, null, [], {}]) {
      expect(parseResource({ kind: "Device", uid: "d1", spec }).spec).toBe(spec);
    }
  });

  it("returns fresh top-level and metadata objects", () => {
    const input = { ...base, metadata: { labels: { a: "b" } } };
    const out = parseResource(input);
    expect(out).not.toBe(input);
    expect(out.metadata).not.toBe(input.metadata);
  });

  it.each([
    [null, "resource", /null must be an object/],
    [[], "resource", /\(array\) must be an object/],
    ["Device", "resource", /must be an object/],
    [{ uid: "d1", spec: {} }, "resource.kind", /is required/],
    [{ kind: "Device", spec: {} }, "resource.uid", /is required/],
    [{ kind: "Device", uid: "d1" }, "resource.spec", /is required/],
    [{ kind: "Device", uid: "d1", spec: undefined }, "resource.spec", /is required/],
    [{ ...base, kind: 3 }, "resource.kind", /3 must be a string/],
    [{ ...base, kind: "dev.*" }, "resource.kind", /"dev\.\*" must start with a letter/],
    [{ ...base, uid: "a b" }, "resource.uid", /"a b"/],
    [{ ...base, uid: "../x" }, "resource.uid", /"\.\.\/x"/],
    [{ ...base, metadata: null }, "resource.metadata", /must be an object/],
    [{ ...base, metadata: ["x"] }, "resource.metadata", /must be an object/],
    [{ ...base, metadata: { generation: -1 } }, "resource.metadata.generation", /-1 must be a non-negative integer/],
    [{ ...base, metadata: { generation: 1.5 } }, "resource.metadata.generation", /non-negative integer/],
    [{ ...base, metadata: { generation: "1" } }, "resource.metadata.generation", /"1" must be a non-negative integer/],
    [{ ...base, metadata: { revision: Number.MAX_VALUE } }, "resource.metadata.revision", /non-negative integer/],
    [{ ...base, metadata: { ownerUid: "a>b" } }, "resource.metadata.ownerUid", /"a>b"/],
    [{ ...base, metadata: { labels: ["a"] } }, "resource.metadata.labels", /must be an object of strings/],
    [{ ...base, metadata: { labels: { zone: 1 } } }, "resource.metadata.labels.zone", /1 must be a string/],
    [{ ...base, metadata: { labels: { "a b": true } } }, 'resource.metadata.labels["a b"]', /true must be a string/],
    [{ ...base, metadata: { finalizers: "x" } }, "resource.metadata.finalizers", /must be an array of strings/],
    [{ ...base, metadata: { finalizers: ["x", 2] } }, "resource.metadata.finalizers[1]", /2 must be a string/],
    [{ ...base, metadata: { deletedAt: "yesterday" } }, "resource.metadata.deletedAt", /ISO 8601/],
    [{ ...base, metadata: { deletedAt: 1714557600000 } }, "resource.metadata.deletedAt", /must be a string/],
  ])("rejects %j at %s", (input, path, message) => {
    const error = failure(input);
    expect(error.path).toBe(path);
    expect(error.message.startsWith(`${path}: `)).toBe(true);
    expect(error.message).toMatch(message);
  });

  it("names the field under the caller's path", () => {
    expect(failure({ ...base, uid: 3 }, "value").path).toBe("value.uid");
    expect(failure({ ...base, uid: 3 }, "event.data").message).toMatch(/^event\.data\.uid: 3 /);
  });

  describe("prototype pollution", () => {
    it.each([
      ['{"kind":"Device","uid":"d1","spec":{"__proto__":{"polluted":true}}}', "resource.spec.__proto__"],
      ['{"__proto__":{"polluted":true},"kind":"Device","uid":"d1","spec":{}}', "resource.__proto__"],
      ['{"kind":"Device","uid":"d1","spec":{},"metadata":{"labels":{"__proto__":{"polluted":"x"}}}}', "resource.metadata.labels.__proto__"],
      ['{"kind":"Device","uid":"d1","spec":{"list":[{"ok":1},{"constructor":{"prototype":{"polluted":true}}}]}}', "resource.spec.list[1].constructor"],
      ['{"kind":"Device","uid":"d1","spec":{},"status":{"prototype":1}}', "resource.status.prototype"],
    ])("rejects %s", (json, path) => {
      const error = failure(JSON.parse(json));
      expect(error.path).toBe(path);
      expect(error.message).toMatch(/forbidden key/);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.prototype).not.toHaveProperty("polluted");
    });

    it("accepts those words as values and inside longer keys", () => {
      const input = { ...base, spec: { name: "__proto__", constructorName: "x", prototypes: ["constructor"] } };
      expect(parseResource(input)).toEqual(input);
    });
  });

  describe("nesting", () => {
    it(`accepts ${MAX_RESOURCE_DEPTH} levels, the resource itself being the first`, () => {
      // resource (1) > spec (2) > … : 63 nested objects bring the innermost to level 64.
      expect(() => parseResource({ ...base, spec: nested(MAX_RESOURCE_DEPTH - 1) })).not.toThrow();
    });

    it("rejects one level more, naming where", () => {
      const error = failure({ ...base, spec: nested(MAX_RESOURCE_DEPTH) });
      expect(error.message).toMatch(/nested deeper than 64 levels/);
      expect(error.path).toBe(`resource.spec${".a".repeat(MAX_RESOURCE_DEPTH - 1)}`);
    });

    it("counts arrays as levels too, also in status and metadata", () => {
      let deepArray: unknown = 1;
      for (let i = 0; i < MAX_RESOURCE_DEPTH; i++) deepArray = [deepArray];
      expect(failure({ ...base, status: deepArray }).path).toMatch(/^resource\.status(\[0\])+$/);
      expect(failure({ ...base, metadata: { extra: nested(MAX_RESOURCE_DEPTH - 1) } }).path).toMatch(/^resource\.metadata\.extra/);
    });

    it("rejects a cycle", () => {
      const spec: Record<string, unknown> = { a: 1 };
      spec.self = { back: spec };
      const error = failure({ ...base, spec });
      expect(error.path).toBe("resource.spec.self.back");
      expect(error.message).toMatch(/cyclic/);
    });

    it("walks a shared sub-object (a DAG) in linear time instead of once per path, and refuses one that writes out too much", () => {
      let dag: unknown = { leaf: true };
      for (let i = 0; i < 50; i++) dag = [dag, dag]; // 2^50 paths, 51 distinct objects
      const error = failure({ ...base, spec: dag });
      // The smallest part that is over the bound on its own, not the whole spec.
      expect(error.path).toMatch(/^resource\.spec(\[0\])+$/);
      expect(error.message).toMatch(/writes out more than 1000000 values/);
      let modest: unknown = { leaf: true };
      for (let i = 0; i < 10; i++) modest = [modest, modest]; // 2^10 paths: written out in full, it is small
      expect(() => parseResource({ ...base, spec: modest })).not.toThrow();
    });

    it("re-checks a shared sub-object met deeper than before", () => {
      const shared = nested(60); // fine under spec.a (innermost at level 62) …
      const error = failure({ ...base, spec: { a: shared, b: nested(3, shared) } }); // … too deep under spec.b
      expect(error.path).toMatch(/^resource\.spec\.b\.a\.a\.a(\.a)+$/);
      expect(error.message).toMatch(/nested deeper/);
    });

    it("still finds a bad key inside a shared sub-object", () => {
      const shared = JSON.parse('{"__proto__":1}');
      const error = failure({ ...base, spec: { first: shared, second: shared } });
      expect(error.path).toBe("resource.spec.first.__proto__");
    });
  });

  it("rejects functions and symbols, which cannot be stored", () => {
    expect(failure({ ...base, spec: { run() {} } }).path).toBe("resource.spec.run");
    expect(failure({ ...base, status: [Symbol("x")] }).path).toBe("resource.status[0]");
  });
});

describe("ResourceSchema", () => {
  it("is a valibot schema with the same verdicts", () => {
    expect(v.is(ResourceSchema, base)).toBe(true);
    expect(v.is(ResourceSchema, JSON.parse('{"kind":"Device","uid":"d1","spec":{"__proto__":{}}}'))).toBe(false);
    expect(v.is(ResourceSchema, { ...base, spec: nested(MAX_RESOURCE_DEPTH) })).toBe(false);
    expect(v.is(ResourceSchema, { kind: "Device", uid: "d1" })).toBe(false);
  });
});
