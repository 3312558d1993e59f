// A password in a server address never shows: not in an error's message,
// stack, cause or echoed input, not in what the CLI prints.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { ValidationError } from "../../src/index.js";
import { connectNats, redactServers, type NatsConnectOptions } from "../../src/nats.js";
import { redactError, redactUrls } from "../../src/nats/redact.js";

const SECRET = "Pa55w0rdXyz";

/** Everything a caller could print of an error: String(), stack, inspect() with its cause chain and properties. */
function everything(error: unknown): string {
  return [String(error), (error as Error)?.stack ?? "", inspect(error, { depth: 10, showHidden: true })].join("\n");
}

describe("redactUrls", () => {
  it.each([
    [`nats://user:${SECRET}@127.0.0.1:4222`, "nats://***@127.0.0.1:4222"],
    [`user:${SECRET}@127.0.0.1:0`, "***@127.0.0.1:0"],
    [`${SECRET}@host`, "***@host"],
    [`nats://us@er:${SECRET}@o@[::1`, "nats://***@[::1"],
    [`got "nats://u:${SECRET}@h:1/x"`, 'got "nats://***@h:1/x"'],
    [`a=nats://u:${SECRET}@h,tls://v:${SECRET}@k:2 and u:${SECRET}@z`, "a=nats://***@h,tls://***@k:2 and ***@z"],
    ["nats://127.0.0.1:4222,localhost", "nats://127.0.0.1:4222,localhost"],
  ])("%s", (input, expected) => {
    expect(redactUrls(input)).toBe(expected);
    expect(redactServers(input)).toBe(expected);
  });
});

describe("redactError", () => {
  it("hides the password in Node's Invalid URL (message, stack, input) and down the cause chain, keeping the error's class", () => {
    let invalid: unknown;
    try {
      new URL(`nats://u:${SECRET}@[::1`);
    } catch (error) {
      invalid = error;
    }
    expect(everything(invalid)).toContain(SECRET);
    const outer = new Error(`cannot connect to u:${SECRET}@h`, { cause: new AggregateError([invalid], "all failed") });
    expect(redactError(outer)).toBe(outer);
    expect(everything(outer)).not.toContain(SECRET);
    expect(invalid).toBeInstanceOf(TypeError);
    expect((invalid as { input?: string }).input).toBe("nats://***@[::1");
  });
});

describe("connectNats never shows a secret", () => {
  const cases: [string, NatsConnectOptions][] = [
    ["an unparsable URL", { servers: `nats://u:${SECRET}@[::1` }],
    ["a URL with a path", { servers: [`nats://u:${SECRET}@127.0.0.1:1/x`], waitOnFirstConnect: false, maxReconnectAttempts: 0 }],
    ["an address without a scheme", { servers: `u:${SECRET}@127.0.0.1:0` }],
    ["a refused connection", { servers: `nats://u:${SECRET}@127.0.0.1:1`, waitOnFirstConnect: false, maxReconnectAttempts: 0 }],
    ["a password that is not a string", { servers: "nats://127.0.0.1:1", pass: 90210 as unknown as string }],
    ["a token that is not a string", { servers: "nats://127.0.0.1:1", token: [SECRET] as unknown as string }],
    ["servers that are not strings", { servers: { url: `nats://u:${SECRET}@h` } as unknown as string }],
  ];
  for (const [what, options] of cases) {
    it(what, async () => {
      const error = await connectNats(options).then(
        (nc) => nc.close().then(() => undefined),
        (e: unknown) => e,
      );
      expect(error, "must reject").toBeInstanceOf(Error);
      const shown = everything(error);
      expect(shown).not.toContain(SECRET);
      expect(shown).not.toContain("90210");
      if (error instanceof ValidationError) expect(error.path).toMatch(/^nats options\.(servers|pass|token)/);
    });
  }
});

const MAIN = fileURLToPath(new URL("../../dist/src/cli/main.js", import.meta.url));

function run(args: string[]): Promise<{ code: number | null; output: string }> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first (npm test does)`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, CONVERGE_LOG_LEVEL: "debug" } });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("exit", (code) => resolve({ code, output }));
  });
}

describe("the CLI never prints a secret", () => {
  it.each([
    `nats://user:${SECRET}@127.0.0.1:1/x`,
    `user:${SECRET}@127.0.0.1:0`,
    `nats://user:${SECRET}@[::1`,
    `nats://user:${SECRET}@127.0.0.1:1`,
    `${SECRET}@127.0.0.1:1`,
    `nats://a:${SECRET}@127.0.0.1:1,nats://b:${SECRET}@bad host`,
  ])("--nats %s", async (nats) => {
    const { code, output } = await run(["demo", "--devices", "5", "--quiet", "--nats", nats]);
    expect(code).not.toBe(0);
    // It said what was wrong, with the address, minus the secret.
    expect(output).toMatch(/--nats|cannot connect to NATS/);
    expect(output).toContain("***@");
    expect(output).not.toContain(SECRET);
  });
});
