import { describe, expect, it } from "vitest";
import { compilePattern, InvalidPatternError, matchPattern } from "../../src/events/pattern.js";

// [pattern, event type, matches?]
const cases: [string, string, boolean][] = [
  // exact
  ["a", "a", true],
  ["a.b", "a.b", true],
  ["a.b", "a.bc", false],
  ["a.b", "a.b.c", false],
  ["a.b", "a", false],
  ["a.b.c", "a.b", false],
  ["io.example.device.created", "io.example.device.created", true],
  ["Dev_1-x", "Dev_1-x", true],
  ["dev", "Dev", false],
  // '*' is exactly one token
  ["*", "a", true],
  ["*", "a.b", false],
  ["a.*", "a.b", true],
  ["a.*", "a.b.c", false],
  ["a.*", "a", false],
  ["*.b", "a.b", true],
  ["*.b", "b", false],
  ["a.*.c", "a.b.c", true],
  ["a.*.c", "a.b.d", false],
  ["a.*.c", "a.c", false],
  ["a.*.c", "a.b.x.c", false],
  ["*.*", "a.b", true],
  ["*.*", "a.b.c", false],
  ["a.*", "x.b", false],
  // '**' (and '>') is one or more tokens, last only
  ["a.b.**", "a.b", false],
  ["a.b.**", "a.b.c", true],
  ["a.b.**", "a.b.c.d.e", true],
  ["a.b.**", "a.bc.d", false],
  ["a.b.**", "a.x.c", false],
  ["a.*.**", "a.b", false],
  ["a.*.**", "a.b.c", true],
  ["**", "a", true],
  ["**", "a.b.c.d", true],
  ["**", "", false],
  [">", "a.b", true],
  ["a.>", "a", false],
  ["a.>", "a.b.c", true],
  // event types that are not valid never match a wildcard either
  ["a.*", "a.", false],
  ["a.*.c", "a..c", false],
  ["*", "", false],
];

// [pattern, what the message must mention]
const invalid: [string, RegExp][] = [
  ["", /must not be empty/],
  ["a..b", /empty token/],
  [".a", /must not start with '.'/],
  ["a.", /must not end with '.'/],
  [".", /must not start with '.'/],
  ["a.**.b", /'\*\*' may only be the last token/],
  ["**.a", /'\*\*' may only be the last token/],
  ["a.>.b", /'>' may only be the last token/],
  ["dev*", /"dev\*" mixes a wildcard/],
  ["a.*b", /"\*b" mixes a wildcard/],
  ["a.***", /"\*\*\*" mixes a wildcard/],
  ["a.b>", /"b>" mixes a wildcard/],
  ["a b", /whitespace or a control character \(U\+0020\)/],
  [" a", /whitespace/],
  ["a.b\n", /U\+000a/],
  ["a\tb", /U\+0009/],
  ["a.\u0000", /U\+0000/],
  ["a.\u00a0b", /whitespace/],
  ["a/b", /"a\/b" may hold only letters, digits/],
  ["a.b$", /may hold only letters, digits/],
  ["a.é", /may hold only letters, digits/],
];

describe("compilePattern", () => {
  it.each(cases)("%j against %j -> %s", (pattern, type, expected) => {
    expect(compilePattern(pattern)(type)).toBe(expected);
    expect(matchPattern(pattern, type)).toBe(expected);
  });

  it.each(invalid)("rejects %j", (pattern, reason) => {
    let error: unknown;
    try {
      compilePattern(pattern);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidPatternError);
    const e = error as InvalidPatternError;
    expect(e.code).toBe("ERR_INVALID_PATTERN");
    expect(e.pattern).toBe(pattern);
    expect(e.message).toContain(JSON.stringify(pattern));
    expect(e.message).toMatch(reason);
    expect(() => matchPattern(pattern, "a.b")).toThrow(InvalidPatternError);
  });

  it("rejects a pattern that is not a string", () => {
    expect(() => compilePattern(undefined as unknown as string)).toThrow(/must be a string, got undefined/);
    expect(() => compilePattern(5 as unknown as string)).toThrow(InvalidPatternError);
  });

  it("reuses one compiled matcher for many event types", () => {
    const match = compilePattern("io.*.device.**");
    const types = ["io.x.device.a", "io.x.device", "io.device.a", "io.y.device.a.b", "io.x.devices.a"];
    expect(types.map(match)).toEqual([true, false, false, true, false]);
  });

  it("keeps matchPattern correct past its cache limit", () => {
    for (let i = 0; i < 600; i++) expect(matchPattern(`p${i}.*`, `p${i}.x`)).toBe(true);
    expect(matchPattern("p0.*", "p1.x")).toBe(false);
  });
});
