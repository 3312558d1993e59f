import { encode } from "@msgpack/msgpack";
import { describe, expect, it } from "vitest";
import { copyPlainData } from "../../src/codec/plain-data.js";
import { EffectRecorder } from "../../src/pool/effects.js";
import { bindResource, recorderOfResource } from "../../src/reconcile/context.js";

describe("bindResource", () => {
  it("points a resource back to its reconcile's recorder, unseen by copies, codecs and key listings", () => {
    const effects = new EffectRecorder();
    const resource = { kind: "Device", uid: "d1", spec: { desired: "on" } };
    const plain = structuredClone(resource);
    bindResource(resource, effects);

    expect(recorderOfResource(resource)).toBe(effects);
    expect(Object.keys(resource)).toEqual(["kind", "uid", "spec"]);
    expect(JSON.stringify(resource)).toBe(JSON.stringify(plain));
    expect(encode(resource)).toEqual(encode(plain));
    const copies = [structuredClone(resource), { ...resource }, copyPlainData(resource)];
    for (const copy of copies) expect(recorderOfResource(copy as object)).toBeUndefined();
  });

  it("binds a frozen resource too, and a later reconcile's recorder replaces the first", () => {
    const frozen = Object.freeze({ kind: "Device", uid: "d2", spec: {} });
    const first = new EffectRecorder();
    bindResource(frozen, first);
    expect(recorderOfResource(frozen)).toBe(first);

    const resource = { kind: "Device", uid: "d3", spec: {} };
    const second = new EffectRecorder();
    bindResource(resource, first);
    bindResource(resource, second);
    expect(recorderOfResource(resource)).toBe(second);
  });
});
