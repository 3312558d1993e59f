import { describe, expect, it } from "vitest";
import { barChart, convergenceChart, downsample } from "../../src/cli/terminal-chart.js";

describe("terminal chart", () => {
  it("draws one column per value in eighths of a cell, scaled to max", () => {
    expect(barChart([0, 1, 2, 4, 8], 8)).toEqual([" ▁▂▄█"]);
    expect(barChart([0, 8, 16], 16, 2)).toEqual(["  █", " ██"]);
    expect(barChart([5, -1, 99], 0)).toEqual(["   "]);
  });

  it("downsamples to the last value of each span, so a growing count keeps its shape", () => {
    expect(downsample([1, 2, 3, 4, 5, 6], 3)).toEqual([2, 4, 6]);
    expect(downsample([1, 2], 5)).toEqual([1, 2]);
  });

  it("labels the scale and the time axis", () => {
    const chart = convergenceChart([0, 5, 10, 10], 10, 1_000, { width: 8, height: 2 });
    expect(chart).toHaveLength(3);
    expect(chart[0]).toBe("10 ┤    ████");
    expect(chart[chart.length - 2]).toBe(" 0 ┤  ██████");
    expect(chart[chart.length - 1]).toMatch(/^ {4}0 s +4\.0 s$/);
  });
});
