import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { INSTALL_HINT, plan } from "./ensure-nats-server.mjs";

const SCRIPT = join(import.meta.dirname, "ensure-nats-server.mjs");
const isRoot = process.getuid?.() === 0;

describe("plan: what `npm test` does about nats-server", () => {
  const none = { natsUrl: undefined, onPath: false, root: false, aptGet: false };
  it("uses NATS_URL first, then nats-server on PATH", () => {
    expect(plan({ ...none, natsUrl: "nats://h:4222", root: true, aptGet: true })).toBe("use-nats-url");
    expect(plan({ ...none, onPath: true, root: true, aptGet: true })).toBe("use-path");
  });
  it("installs Debian's package only as root with apt-get", () => {
    expect(plan({ ...none, root: true, aptGet: true })).toBe("apt-install");
    expect(plan({ ...none, root: false, aptGet: true })).toBe("stop");
    expect(plan({ ...none, root: true, aptGet: false })).toBe("stop");
  });
});

describe("ensure-nats-server.mjs with PATH controlled", () => {
  let bin = "";
  afterEach(() => rmSync(bin, { recursive: true, force: true }));

  /** Runs the script with PATH = a fresh directory holding only the given fake commands. */
  function run(fakes: Record<string, string>, env: Record<string, string> = {}) {
    bin = mkdtempSync(join(tmpdir(), "converge-ensure-"));
    for (const [name, body] of Object.entries(fakes)) {
      writeFileSync(join(bin, name), `#!/bin/sh\n${body.replaceAll("$BIN", bin)}\n`);
      chmodSync(join(bin, name), 0o755);
    }
    const result = spawnSync(process.execPath, [SCRIPT], { env: { PATH: bin, ...env }, encoding: "utf8" });
    const calls = existsSync(join(bin, "calls")) ? readFileSync(join(bin, "calls"), "utf8").trim().split("\n") : [];
    return { status: result.status, stderr: result.stderr.trim(), calls };
  }

  // A fake apt-get that records its arguments and, on install, puts a fake nats-server on PATH.
  const aptGet = (installWorks: boolean) =>
    [
      'echo "$@" >> $BIN/calls',
      'if [ "$1" = "--version" ]; then exit 0; fi',
      'if [ "$1" = "install" ]; then',
      installWorks ? '  printf "#!/bin/sh\\nexit 0\\n" > $BIN/nats-server; /bin/chmod 755 $BIN/nats-server' : "  exit 100",
      "fi",
    ].join("\n");

  it("stops with one line saying what to install when there is no server and no apt-get", () => {
    const { status, stderr } = run({});
    expect(status).toBe(1);
    expect(stderr).toBe(INSTALL_HINT);
    expect(stderr).toContain("apt-get install -y nats-server");
  });

  it("is satisfied by NATS_URL without looking further", () => {
    const { status, calls } = run({ "apt-get": aptGet(true) }, { NATS_URL: "nats://127.0.0.1:4222" });
    expect(status).toBe(0);
    expect(calls).toEqual([]);
  });

  it("is satisfied by nats-server on PATH and installs nothing", () => {
    const { status, calls } = run({ "nats-server": "exit 0", "apt-get": aptGet(true) });
    expect(status).toBe(0);
    expect(calls).toEqual([]);
  });

  it(isRoot ? "as root, runs apt-get update then install -y nats-server" : "not root: stops instead of installing", () => {
    const { status, calls, stderr } = run({ "apt-get": aptGet(true) });
    if (isRoot) {
      expect(status).toBe(0);
      expect(calls).toEqual(["--version", "update", "install -y nats-server"]);
    } else {
      expect(status).toBe(1);
      expect(stderr).toBe(INSTALL_HINT);
    }
  });

  it("says what to install when apt-get fails", () => {
    const { status, stderr } = run({ "apt-get": aptGet(false) });
    expect(status).toBe(1);
    expect(stderr.split("\n").at(-1)).toContain(INSTALL_HINT);
  });
});
