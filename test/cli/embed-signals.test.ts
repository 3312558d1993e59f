// SIGTERM to the embedded-service examples, each as a real child process on its
// own runtime: pending long-polls get their answers, then the process ends with 0.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { start } from "./child-process.js";

const bin = (name: string) => fileURLToPath(new URL(`../../node_modules/.bin/${name}`, import.meta.url));
const NODE_EXAMPLE = fileURLToPath(new URL("../../dist/examples/embed-node.js", import.meta.url));

const RUNTIMES: [string, string, string[]][] = [
  ["node", process.execPath, [NODE_EXAMPLE]],
  ["bun", bin("bun"), ["examples/embed-bun.ts"]],
  ["deno", bin("deno"), ["run", "-A", "examples/embed-deno.ts"]],
];

describe.each(RUNTIMES)("the embedded service on %s, sent SIGTERM (child process)", (_name, command, args) => {
  it("answers its pending long-polls, stops the controller and exits 0", async () => {
    if (!existsSync(NODE_EXAMPLE)) throw new Error(`${NODE_EXAMPLE} is missing: run \`npm run build\` first (npm test does)`);
    const service = start(command, args, { PORT: "0", HOST: "127.0.0.1", NO_COLOR: "1" });
    try {
      const [, url] = await service.output(/device service on (http:\/\/127\.0\.0\.1:\d+)/);
      const device = `${url}/resources/Device/dev-1`;
      const created = await fetch(device, { method: "PUT", body: '{"spec":{"desired":"running"}}' });
      expect(created.status).toBe(201);
      const { revision } = (await created.json()) as { revision: number };
      // Far in the future: only the shutdown can end these long-polls early.
      const polls = Array.from({ length: 5 }, () => fetch(`${device}?wait=30000&after=${revision + 1000}`).then((r) => r.status));
      // Each long-poll's request is in once a later request on another connection is answered.
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      service.child.kill("SIGTERM");
      expect(await Promise.all(polls)).toEqual([200, 200, 200, 200, 200]);
      const exit = await service.exited;
      expect(exit.code, exit.stdout + exit.stderr).toBe(0);
      expect(exit.stdout).toMatch(/device service stopped/);
    } finally {
      service.child.kill("SIGKILL");
    }
  }, 60_000);
});
