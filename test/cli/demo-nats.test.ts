import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { natsUrl } from "../helpers/nats.js";

const MAIN = fileURLToPath(new URL("../../dist/src/cli/main.js", import.meta.url));

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first (npm test does)`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("converge demo --nats", () => {
  it("converges the fleet on NATS JetStream + KV and says so", async () => {
    const { code, stdout, stderr } = await run(["demo", "--devices", "500", "--fail-rate", "0.1", "--nats", natsUrl(), "--quiet"]);
    expect(stderr).not.toMatch(/error/i);
    expect(code).toBe(0);
    expect(stdout).toMatch(/converged\s+500\/500 devices/);
    expect(stdout).toMatch(/backend\s+NATS JetStream \+ KV at nats:\/\/127\.0\.0\.1:\d+/);
  });

  it("fails with a clear message when no server answers", async () => {
    const { code, stderr } = await run(["demo", "--devices", "5", "--nats", "nats://127.0.0.1:1", "--quiet"]);
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/cannot connect to NATS at nats:\/\/127\.0\.0\.1:1/);
  });

  it("serves metrics while it runs with --metrics-port", async () => {
    const { code, stdout, stderr } = await run(["demo", "--devices", "200", "--metrics-port", "0", "--quiet"]);
    expect(code).toBe(0);
    expect(stdout + stderr).toMatch(/metrics on http:\/\/127\.0\.0\.1:\d+\/metrics/);
  });

  it("rejects a bad --metrics-port as a usage error", async () => {
    const { code, stderr } = await run(["demo", "--metrics-port", "70000"]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--metrics-port: must be a port number/);
  });

  it("rejects a malformed --nats value as a usage error", async () => {
    const { code, stderr } = await run(["demo", "--nats", "not a url"]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--nats/);
  });
});
