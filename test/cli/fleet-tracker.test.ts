import { describe, expect, it } from "vitest";
import { FleetTracker } from "../../src/cli/fleet-tracker.js";
import { LatencyRecorder } from "../../src/cli/latency-recorder.js";

describe("FleetTracker", () => {
  it("plans exactly round(changes * size) distinct flips", () => {
    for (const [size, changes] of [[1_000, 0.1], [7, 0.5], [10, 1], [10, 0]] as const) {
      const tracker = new FleetTracker(size, changes);
      let flips = 0;
      for (let device = 0; device < size; device++) {
        tracker.setDesired(device, "running", 0);
        if (tracker.observe(device, "running", "running", 1) === "flip") flips++;
      }
      expect(flips).toBe(Math.round(changes * size));
      expect(tracker.flipsPlanned).toBe(flips);
      expect(tracker.flipsRequested).toBe(flips);
    }
  });

  it("counts a flipped device only once its new desired state is reached, ignoring copies from before the flip", () => {
    const tracker = new FleetTracker(2, 1);
    tracker.setDesired(0, "running", 10);
    tracker.setDesired(1, "running", 10);
    expect(tracker.observe(0, "running", "stopped", 11)).toBe("none");
    expect(tracker.observe(0, "running", "running", 15)).toBe("flip");
    expect(tracker.desiredOf(0)).toBe("stopped");
    // A copy stored before the flip, delivered late: it matched the old desired state, not the new one.
    expect(tracker.observe(0, "running", "running", 16)).toBe("none");
    expect(tracker.observe(0, "stopped", "running", 17)).toBe("none");
    expect(tracker.converged).toBe(0);
    expect(tracker.observe(0, "stopped", "stopped", 40)).toBe("converged");
    expect(tracker.converged).toBe(1);
    expect(tracker.done).toBe(false);
    // A converged device stays counted once.
    expect(tracker.observe(0, "stopped", "stopped", 41)).toBe("none");
    expect(tracker.converged).toBe(1);
    expect(tracker.observe(1, "running", "running", 20)).toBe("flip");
    expect(tracker.observe(1, "stopped", "stopped", 30)).toBe("converged");
    expect(tracker.done).toBe(true);
    // Latencies: 15-10, 40-15, 20-10, 30-20.
    expect(tracker.latency.summary()).toEqual({ samples: 4, p50: 10, p99: 25, max: 25 });
  });
});

describe("LatencyRecorder", () => {
  it("reports nearest-rank percentiles of what was recorded, growing past its capacity", () => {
    const recorder = new LatencyRecorder(2);
    for (let i = 100; i >= 1; i--) recorder.record(i);
    expect(recorder.length).toBe(100);
    expect(recorder.summary()).toEqual({ samples: 100, p50: 50, p99: 99, max: 100 });
  });

  it("reports zeros with no samples", () => {
    expect(new LatencyRecorder().summary()).toEqual({ samples: 0, p50: 0, p99: 0, max: 0 });
  });
});
