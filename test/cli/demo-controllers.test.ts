// `converge demo --nats URL --controllers 3`: three controller processes share
// the fleet; one is SIGKILLed mid-run; it is replaced, its share taken over,
// and the demo exits 0 only once every device converged.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NatsServer } from "../helpers/nats-server.js";

const MAIN = fileURLToPath(new URL("../../dist/src/cli/main.js", import.meta.url));

// Its own server: the demo resets its bucket, and another demo test runs on the shared one.
let server: NatsServer;
beforeAll(async () => {
  server = await NatsServer.start();
});
afterAll(async () => {
  await server?.remove();
});

describe("converge demo --controllers", () => {
  it("shares the fleet between three processes, survives a SIGKILL of one, and converges every device", { timeout: 120_000 }, async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first (npm test does)`);
    const child = spawn(process.execPath, [MAIN, "demo", "--nats", server.url, "--controllers", "3", "--devices", "6000", "--quiet"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    // Progress lines (each process's share, exits) go to stderr with --quiet; the summary to stdout.
    const lines: string[] = [];
    const pids = new Map<string, number>();
    let killed: string | undefined;
    createInterface({ input: child.stdout }).on("line", (line) => lines.push(line));
    createInterface({ input: child.stderr }).on("line", (line) => {
      lines.push(line);
      const started = /^controller (demo-\d+) started \(pid (\d+)\)$/.exec(line);
      if (started) pids.set(started[1], Number(started[2]));
      // The first time demo-2 holds a share while the others do too: kill it mid-run.
      const holds = /^controller (demo-2) holds ([1-9]\d*) of 32 partitions$/.exec(line);
      if (holds && killed === undefined) {
        killed = "demo-2";
        process.kill(pids.get("demo-2")!, "SIGKILL");
      }
    });
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    const text = lines.join("\n");
    expect(text).not.toMatch(/error/i);
    expect(killed).toBe("demo-2");
    expect(text).toMatch(/controller demo-2 exited \(SIGKILL\) holding \d+ partitions/);
    expect(text).toMatch(/controller demo-4 started/);
    expect(text).toMatch(/converged\s+6000\/6000 devices/);
    expect(code).toBe(0);
  });

  it("refuses --controllers without --nats", async () => {
    const child = spawn(process.execPath, [MAIN, "demo", "--controllers", "3"], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code).toBe(2);
    expect(stderr).toMatch(/--controllers: more than one controller process needs --nats/);
  });
});
