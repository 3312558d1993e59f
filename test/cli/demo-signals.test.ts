import { describe, expect, it } from "vitest";
import { startConverge } from "./child-process.js";

// Every attempt fails (--fail-rate 1): nothing converges, so the run is still
// going when the signal arrives, whatever the machine's speed.
const NEVER_CONVERGES = ["demo", "--devices", "200", "--fail-rate", "1", "--timeout", "120"];

describe("converge demo stopped by a signal (child process)", () => {
  it.each([
    ["SIGTERM", 143],
    ["SIGINT", 130],
  ] as const)("%s drains in-flight reconciles, prints the summary and exits %i on its own", async (signal, status) => {
    const run = startConverge(NEVER_CONVERGES);
    // The first progress line: the controller is running and reconciling.
    await run.output(/converged, \d+ reconciles\/s/);
    run.child.kill(signal);
    const exit = await run.exited;
    expect(exit.signal, exit.stderr).toBeNull();
    expect(exit.code, exit.stdout + exit.stderr).toBe(status);
    expect(exit.stdout).toMatch(/^converge demo summary$/m);
    expect(exit.stdout).toMatch(/^\s*converged\s+0\/200 devices$/m);
    expect(exit.stdout).toMatch(/before the run was interrupted/);
  }, 60_000);
});
