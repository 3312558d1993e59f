import { describe, expect, it } from "vitest";
import { LeaseObservations } from "../../src/cluster/lease-observations.js";

const them = { holder: "b", instance: "B1" };

describe("LeaseObservations (expiry by the observer's clock)", () => {
  it("holds a lease for leaseMs after its last change was seen, whatever the record says", () => {
    const seen = new LeaseObservations();
    expect(seen.availability("lease.1", "A1", 0, 1000)).toBe("free");
    seen.observe("lease.1", 5, true, them, 100);
    expect(seen.availability("lease.1", "A1", 1100, 1000)).toBe("held");
    expect(seen.availability("lease.1", "A1", 1101, 1000)).toBe("expired");
    seen.observe("lease.1", 9, true, them, 1050);
    expect(seen.availability("lease.1", "A1", 1101, 1000)).toBe("held");
    expect(seen.revision("lease.1")).toBe(9);
  });

  it("counts from the first sighting of a revision: a late or repeated one does not renew", () => {
    const seen = new LeaseObservations();
    seen.observe("lease.1", 9, true, them, 0);
    expect(seen.observe("lease.1", 9, true, them, 900)).toBe(false);
    expect(seen.observe("lease.1", 7, true, them, 900)).toBe(false);
    expect(seen.availability("lease.1", "A1", 1001, 1000)).toBe("expired");
  });

  it("calls a deleted key free, and one naming this instance its own", () => {
    const seen = new LeaseObservations();
    seen.observe("lease.1", 3, true, { holder: "a", instance: "A1" }, 0);
    expect(seen.availability("lease.1", "A1", 10, 1000)).toBe("ours");
    seen.observe("lease.1", 4, false, undefined, 20);
    expect(seen.availability("lease.1", "A1", 30, 1000)).toBe("free");
    expect(seen.revision("lease.1")).toBe(4);
  });

  it("lists live and expired keys under a prefix", () => {
    const seen = new LeaseObservations();
    seen.observe("member.a", 1, true, them, 0);
    seen.observe("member.b", 2, true, them, 600);
    seen.observe("member.c", 3, false, undefined, 600);
    seen.observe("lease.0", 4, true, them, 600);
    expect([...seen.live("member.", 1200, 1000)].map(([k]) => k)).toEqual(["member.b"]);
    expect([...seen.expired("member.", 1200, 1000)].map(([k]) => k)).toEqual(["member.a"]);
  });
});
