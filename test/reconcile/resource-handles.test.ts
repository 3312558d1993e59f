import { describe, expect, it } from "vitest";
import { KeyInterner } from "../../src/queue/key-interner.js";
import { ResourceHandles } from "../../src/reconcile/resource-handles.js";

function setup() {
  const interner = new KeyInterner<string>();
  const fresh: [number, string][] = [];
  const handles = new ResourceHandles((key) => interner.intern(key), (h, kind) => fresh.push([h, kind]));
  return { interner, fresh, handles };
}

describe("ResourceHandles", () => {
  it("gives a resource the queue's handle for its key, once", () => {
    const { interner, fresh, handles } = setup();
    const a = handles.handleOf("Device", "d1");
    const b = handles.handleOf("Rack", "d1");
    expect(a).not.toBe(b);
    expect(handles.handleOf("Device", "d1")).toBe(a);
    expect(interner.keyOf(a)).toBe("Device/d1");
    expect(interner.keyOf(b)).toBe("Rack/d1");
    expect([handles.kindOf(b), handles.uidOf(b)]).toEqual(["Rack", "d1"]);
    expect(fresh).toEqual([
      [a, "Device"],
      [b, "Rack"],
    ]);
  });

  it("after a release, finds the resource through the queue again and reports it as new", () => {
    const { interner, fresh, handles } = setup();
    const a = handles.handleOf("Device", "d1");
    interner.release(a);
    handles.release(a);
    handles.release(a); // twice is harmless
    const other = handles.handleOf("Device", "d2"); // takes the released handle
    expect(other).toBe(a);
    expect([handles.kindOf(other), handles.uidOf(other)]).toEqual(["Device", "d2"]);
    const again = handles.handleOf("Device", "d1");
    expect(again).not.toBe(other);
    expect(interner.keyOf(again)).toBe("Device/d1");
    expect(fresh.map(([h]) => h)).toEqual([a, other, again]);
  });
});
