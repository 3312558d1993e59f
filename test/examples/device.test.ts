import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, describe, expect, it, vi } from "vitest";
import { findCondition } from "../../src/index.js";
import { distUrl } from "../helpers/converged.js";
import { SEED_OUTPUT, positionsInOrder } from "../fixtures/seed-output.js";

const run = promisify(execFile);

afterEach(() => {
  vi.restoreAllMocks();
});

describe.each([
  ["worker", []],
  ["inline", ["--inline"]],
] as const)("device example (%s)", (isolation, args) => {
  it("prints the seed's output lines in order when run as a program", async () => {
    const script = fileURLToPath(distUrl("examples/device.js"));
    const { stdout } = await run(process.execPath, [script, ...args], { env: { ...process.env, CONVERGE_LOG_LEVEL: "debug" } });
    const lines = stdout.split("\n");
    const positions = positionsInOrder(lines, SEED_OUTPUT);
    expect(positions.every((p) => p >= 0), `missing or out of order in:\n${stdout}`).toBe(true);
    expect(lines).toContain("dev-123 is running");
  });

  it("converges dev-123 to running with Ready=True", async () => {
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
    const { runDeviceExample } = (await import(distUrl("examples/device.js").href)) as typeof import("../../examples/device.js");
    const device = await runDeviceExample(isolation);
    expect(device?.status?.state).toBe("running");
    expect(findCondition(device?.status?.conditions, "Ready")).toMatchObject({ status: "True", reason: "DeviceRunning", message: "Device is running" });
    expect(lines).toContain("[INFO] Registered reconciler for Device");
  });
});
