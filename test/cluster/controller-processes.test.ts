// Three controller processes (real child processes) share one fleet over a
// 3-node NATS cluster (R3 storage and leases). One controller is SIGKILLed
// mid-run, then a NATS node: every device converges, and no key ever ran in
// two processes at once (each process journals every run's start and end).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KvStorage } from "../../src/storage/kv-storage.js";
import type { Unit } from "../fixtures/controller-process.js";
import { NatsCluster } from "../helpers/nats-cluster.js";
import { pollUntil } from "../helpers/poll.js";

const FIXTURE = fileURLToPath(new URL("../../dist/test/fixtures/controller-process.js", import.meta.url));
const LEASE_MS = 1500;
const DEVICES = 1_200;

class ControllerProcess {
  readonly stderr: string[] = [];
  ready = false;
  owned = 0;
  diedAt: number | undefined;
  readonly #child: ChildProcess;
  readonly #exited: Promise<number | null>;

  constructor(readonly who: string, servers: string[], journal: string) {
    this.#child = spawn(process.execPath, [FIXTURE, servers.join(","), who, journal, "units", "unit-shards", String(LEASE_MS), "3"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.#exited = new Promise((resolve) => this.#child.once("exit", (code) => resolve(code)));
    createInterface({ input: this.#child.stdout! }).on("line", (line) => {
      if (line === "ready") this.ready = true;
      else if (line.startsWith("{")) this.owned = (JSON.parse(line) as { owned: number }).owned;
    });
    createInterface({ input: this.#child.stderr! }).on("line", (line) => this.stderr.push(line));
  }

  async kill(): Promise<void> {
    this.diedAt = performance.timeOrigin + performance.now();
    this.#child.kill("SIGKILL");
    await this.#exited;
  }

  async stop(): Promise<number | null> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return this.#child.exitCode;
    this.#child.kill("SIGTERM");
    return this.#exited;
  }
}

interface Run {
  uid: string;
  who: string;
  from: number;
  to: number;
}

/** Every run from the journal; a run still open when its process died ends at the kill. */
function runsOf(journal: string, diedAt: Map<string, number>): Run[] {
  const open = new Map<string, { uid: string; who: string; from: number }>();
  const runs: Run[] = [];
  for (const line of journal.split("\n")) {
    const [event, uid, who, at] = line.split(" ");
    if (!uid) continue;
    const id = `${who}/${uid}`;
    if (event === "start") open.set(id, { uid, who, from: Number(at) });
    else if (event === "end") {
      const run = open.get(id);
      if (run) runs.push({ ...run, to: Number(at) });
      open.delete(id);
    }
  }
  for (const run of open.values()) runs.push({ ...run, to: diedAt.get(run.who) ?? Infinity });
  return runs;
}

function overlapping(runs: Run[]): string[] {
  const byUid = new Map<string, Run[]>();
  for (const run of runs) byUid.set(run.uid, [...(byUid.get(run.uid) ?? []), run]);
  const found: string[] = [];
  for (const [uid, list] of byUid) {
    list.sort((a, b) => a.from - b.from);
    for (let i = 1; i < list.length; i++) if (list[i].from < list[i - 1].to) found.push(`${uid}: ${list[i - 1].who} and ${list[i].who}`);
  }
  return found;
}

let cluster: NatsCluster;
let dir: string;
beforeAll(async () => {
  cluster = await NatsCluster.start();
  dir = mkdtempSync(join(tmpdir(), "converge-controllers-"));
}, 60_000);
afterAll(async () => {
  await cluster?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("controllers in three processes on a 3-node cluster", () => {
  it("share the fleet; a controller and a NATS node SIGKILLed mid-run lose no device and never run a key twice at once", { timeout: 120_000 }, async () => {
    const journal = join(dir, "journal");
    writeFileSync(journal, "");
    const nc = await cluster.connect("test");
    const storage = await KvStorage.open(nc, { bucket: "units", replicas: 3 });
    const uids = Array.from({ length: DEVICES }, (_, i) => `unit-${i}`);
    for (const uid of uids) await storage.save("Unit", uid, { kind: "Unit", uid, spec: { waitMs: 10 } } satisfies Unit);

    const processes = ["c1", "c2", "c3"].map((who) => new ControllerProcess(who, cluster.servers, journal));
    try {
      const [c1, c2, c3] = processes;
      await pollUntil(() => processes.every((p) => p.ready), "three controllers started", 60_000);
      const ends = () => readFileSync(journal, "utf8").split("\n").filter((l) => l.startsWith("end ")).length;
      await pollUntil(() => ends() >= DEVICES / 4, "a quarter of the fleet reconciled", 60_000);
      await c2.kill();
      await pollUntil(() => ends() >= DEVICES / 2, "half of the fleet reconciled", 60_000);
      await cluster.kill(1);

      const done = async () => (await storage.loadAll("Unit")).filter((u) => (u as Unit).status?.done).length;
      try {
        await pollUntil(async () => (await done()) === DEVICES, `all ${DEVICES} devices converged`, 90_000, 250);
      } catch (error) {
        // What each process held and said, for whoever reads a failure.
        const said = processes.map((p) => `${p.who}: owned ${p.owned}; ${p.stderr.slice(-8).join(" | ")}`).join("\n");
        throw new Error(`${(error as Error).message}; ${DEVICES - (await done())} not converged\n${said}`);
      }

      const units = (await storage.loadAll("Unit")) as Unit[];
      const by = new Set(units.map((u) => u.status?.by));
      // The two survivors both worked; the victim's share was taken over.
      expect(by.has("c1") && by.has("c3")).toBe(true);
      expect(units.every((u) => typeof u.status?.token === "number")).toBe(true);
      const runs = runsOf(readFileSync(journal, "utf8"), new Map([["c2", c2.diedAt!]]));
      expect(overlapping(runs)).toEqual([]);
      expect(await c1.stop()).toBe(0);
      expect(await c3.stop()).toBe(0);
    } finally {
      await Promise.all(processes.map((p) => p.stop()));
      await storage.close();
      await nc.close();
    }
  });
});
