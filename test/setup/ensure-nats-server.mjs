#!/usr/bin/env node
// Runs first in `npm test` (plain JavaScript: nothing is built yet). The NATS
// suites need a JetStream-enabled nats-server: NATS_URL, or `nats-server` on
// PATH. On a fresh Debian machine run as root, Debian's package is installed
// (what CI uses, 2.9.10); anywhere else the run stops with one line saying what
// to install. Only the repository's tests do this, never the published package.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { pathToFileURL } from "node:url";

export const INSTALL_HINT =
  "nats-server is not on PATH and NATS_URL is not set: install it (Debian/Ubuntu: `apt-get update && apt-get install -y nats-server`; elsewhere https://docs.nats.io/running-a-nats-service/introduction/installation) or set NATS_URL to a JetStream-enabled server";

// Where Debian's package puts it (root's PATH has /usr/sbin; other users' may not).
const DEBIAN_PATH = "/usr/sbin/nats-server";

/**
 * What to do, from what was found. Pure, so the choice is tested without
 * touching the machine.
 * @param {{ natsUrl: string | undefined, onPath: boolean, root: boolean, aptGet: boolean }} found
 * @returns {"use-nats-url" | "use-path" | "apt-install" | "stop"}
 */
export function plan(found) {
  if (found.natsUrl) return "use-nats-url";
  if (found.onPath) return "use-path";
  if (found.root && found.aptGet) return "apt-install";
  return "stop";
}

/** @param {string} command */
function runs(command, args = ["--version"]) {
  const result = spawnSync(command, args, { stdio: "ignore" });
  return result.error === undefined && result.status === 0;
}

/** @returns {boolean} true when a server is (now) available */
export function ensureNatsServer(env = process.env, log = console.error) {
  // Probed in plan's order, each only when the ones before it did not decide.
  const natsUrl = env.NATS_URL;
  const onPath = !natsUrl && runs("nats-server");
  const root = typeof process.getuid === "function" && process.getuid() === 0;
  const aptGet = !natsUrl && !onPath && root && runs("apt-get");
  const step = plan({ natsUrl, onPath, root, aptGet });
  if (step === "use-nats-url" || step === "use-path") return true;
  if (step === "apt-install") {
    log("nats-server is not on PATH: installing Debian's package (apt-get update && apt-get install -y nats-server)");
    const update = spawnSync("apt-get", ["update"], { stdio: ["ignore", "inherit", "inherit"] });
    const install =
      update.status === 0
        ? spawnSync("apt-get", ["install", "-y", "nats-server"], {
            stdio: ["ignore", "inherit", "inherit"],
            env: { ...env, DEBIAN_FRONTEND: "noninteractive" },
          })
        : update;
    if (install.status === 0 && runs("nats-server")) return true;
    if (install.status === 0 && existsSync(DEBIAN_PATH)) {
      log(`nats-server is installed at ${DEBIAN_PATH}, but /usr/sbin is not on PATH: add it (export PATH="$PATH:/usr/sbin") and run again`);
      return false;
    }
    log(`apt-get could not install nats-server. ${INSTALL_HINT}`);
    return false;
  }
  log(INSTALL_HINT);
  return false;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  process.exitCode = ensureNatsServer() ? 0 : 1;
}
