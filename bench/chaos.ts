// `npm run chaos [-- --quick] [-- --seconds N]`: a 3-node NATS cluster (R3
// storage and leases), 3 controller processes, 20,000 devices whose specs keep
// changing, and random SIGKILLs of controllers and of NATS nodes for two
// minutes. Then every device must converge to its latest spec, and the
// journal (every run's start and end, from every process) must show no key
// run in two processes at once. Writes bench/CHAOS.md.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { KvStorage } from "../src/storage/kv-storage.js";
import type { Unit } from "../test/fixtures/controller-process.js";
import { NatsCluster } from "../test/helpers/nats-cluster.js";
import { int } from "./format.js";
import { repoRoot } from "./runtime.js";

const FIXTURE = fileURLToPath(new URL("../test/fixtures/controller-process.js", import.meta.url));
const LEASE_MS = 2_000;
const PARTITIONS = 16;

interface Args {
  quick: boolean;
  seconds: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { quick: false, seconds: 120 };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--quick") args.quick = true;
    else if (argv[i] === "--seconds") {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 5) throw new Error(`--seconds: a whole number >= 5, got ${argv[i]}`);
      args.seconds = n;
    } else throw new Error(`chaos: unknown argument ${JSON.stringify(argv[i])} (--quick, --seconds N)`);
  }
  if (args.quick && !argv.includes("--seconds")) args.seconds = 20;
  return args;
}

class Member {
  owned = 0;
  readonly #child: ChildProcess;
  readonly exited: Promise<void>;
  diedAt: number | undefined;

  constructor(readonly who: string, servers: string[], journal: string) {
    this.#child = spawn(process.execPath, [FIXTURE, servers.join(","), who, journal, "chaos_units", "chaos_shards", String(LEASE_MS), "3"], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    this.exited = new Promise((resolve) => this.#child.once("exit", () => resolve()));
    createInterface({ input: this.#child.stdout! }).on("line", (line) => {
      if (line.startsWith("{")) this.owned = (JSON.parse(line) as { owned: number }).owned;
    });
  }

  get alive(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  async kill(): Promise<void> {
    this.diedAt = wallNow();
    this.#child.kill("SIGKILL");
    await this.exited;
  }

  async stop(): Promise<void> {
    if (!this.alive) return;
    this.#child.kill("SIGTERM");
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), 20_000);
    await this.exited;
    clearTimeout(timer);
  }
}

const wallNow = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(probe: () => boolean | Promise<boolean>, limitMs: number): Promise<boolean> {
  const deadline = performance.now() + limitMs;
  while (performance.now() < deadline) {
    try {
      if (await probe()) return true;
    } catch {
      // a read during an outage: try again
    }
    await sleep(50);
  }
  return false;
}

interface Run {
  uid: string;
  who: string;
  from: number;
  to: number;
}

function journalRuns(text: string, diedAt: Map<string, number>): { runs: Run[]; overlaps: string[] } {
  const open = new Map<string, { uid: string; who: string; from: number }>();
  const runs: Run[] = [];
  for (const line of text.split("\n")) {
    const [event, uid, who, at] = line.split(" ");
    if (!uid) continue;
    if (event === "start") open.set(`${who}/${uid}`, { uid, who, from: Number(at) });
    else if (event === "end") {
      const run = open.get(`${who}/${uid}`);
      if (run) runs.push({ ...run, to: Number(at) });
      open.delete(`${who}/${uid}`);
    }
  }
  for (const run of open.values()) runs.push({ ...run, to: diedAt.get(run.who) ?? Infinity });
  const byUid = new Map<string, Run[]>();
  for (const run of runs) byUid.set(run.uid, [...(byUid.get(run.uid) ?? []), run]);
  const overlaps: string[] = [];
  for (const [uid, list] of byUid) {
    list.sort((a, b) => a.from - b.from);
    for (let i = 1; i < list.length; i++) if (list[i].from < list[i - 1].to) overlaps.push(`${uid}: ${list[i - 1].who} / ${list[i].who}`);
  }
  return { runs, overlaps };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const devices = args.quick ? 2_000 : 20_000;
  const dir = mkdtempSync(join(tmpdir(), "converge-chaos-"));
  const journal = join(dir, "journal");
  writeFileSync(journal, "");
  const cluster = await NatsCluster.start();
  const nc = await cluster.connect("chaos-driver");
  const storage = await KvStorage.open(nc, { bucket: "chaos_units", replicas: 3 });
  const log = (line: string) => console.log(`[${((performance.now() - t0) / 1000).toFixed(1)} s] ${line}`);
  const t0 = performance.now();
  const members = new Map<string, Member>();
  const diedAt = new Map<string, number>();
  const takeovers: number[] = [];
  const nodeOutages: number[] = [];
  let generation = 0;
  let specChanges = 0;
  const revs = new Int32Array(devices);
  try {
    log(`creating ${int(devices)} devices (R3 bucket on a 3-node cluster)`);
    const saves: Promise<number>[] = [];
    for (let i = 0; i < devices; i++) {
      saves.push(storage.save("Unit", `u-${i}`, { kind: "Unit", uid: `u-${i}`, spec: { waitMs: 5, rev: 0 } } satisfies Unit));
      if (saves.length === 256) await Promise.all(saves.splice(0));
    }
    await Promise.all(saves);
    const spawnMember = (slot: number) => {
      const who = `c${slot}-g${generation++}`;
      members.set(who, new Member(who, cluster.servers, journal));
      return who;
    };
    for (let slot = 1; slot <= 3; slot++) spawnMember(slot);
    const live = () => [...members.values()].filter((m) => m.alive);
    const ownedByLive = () => live().reduce((n, m) => n + m.owned, 0);
    await until(() => ownedByLive() === PARTITIONS, 60_000);
    log(`3 controllers hold all ${PARTITIONS} partitions; chaos for ${args.seconds} s`);

    // Specs keep changing throughout: 100 devices every 250 ms.
    let changing = true;
    const changer = (async () => {
      let next = 0;
      while (changing) {
        const batch: Promise<unknown>[] = [];
        for (let k = 0; k < 100; k++) {
          const i = next++ % devices;
          const rev = revs[i] + 1;
          batch.push(
            (async () => {
              const current = (await storage.load("Unit", `u-${i}`)) as Unit | undefined;
              if (!current) return;
              await storage.save("Unit", `u-${i}`, { ...current, spec: { ...current.spec, rev } }, { expectedRevision: current.metadata?.revision });
              revs[i] = rev;
              specChanges++;
            })().catch(() => {}),
          );
        }
        await Promise.all(batch);
        await sleep(250);
      }
    })();

    const end = performance.now() + args.seconds * 1000;
    let slotToKill = 1;
    while (performance.now() < end) {
      await sleep(5_000 + Math.random() * 5_000);
      if (performance.now() >= end) break;
      if (Math.random() < 0.6) {
        const victims = live();
        const victim = victims[Math.floor(Math.random() * victims.length)];
        if (!victim) continue;
        await victim.kill();
        diedAt.set(victim.who, victim.diedAt!);
        const killedAt = performance.now();
        log(`SIGKILL controller ${victim.who} (held ${victim.owned} partitions)`);
        if (await until(() => ownedByLive() === PARTITIONS, 10 * LEASE_MS)) {
          takeovers.push(performance.now() - killedAt);
          log(`its partitions taken over in ${int(performance.now() - killedAt)} ms`);
        } else log("its partitions were NOT all taken over within 10 x leaseMs");
        // A replacement joins under a new identity (the old one's member key is still live for a lease).
        const replacement = spawnMember(slotToKill++ % 3 + 1);
        log(`started ${replacement}`);
      } else {
        const node = Math.floor(Math.random() * 3);
        await cluster.kill(node);
        const downAt = performance.now();
        log(`SIGKILL nats-server n${node + 1}`);
        await sleep(3_000 + Math.random() * 3_000);
        await cluster.restart(node);
        nodeOutages.push(performance.now() - downAt);
        log(`restarted n${node + 1}`);
      }
    }
    changing = false;
    await changer;
    log("chaos over; waiting for every device to converge to its latest spec");
    const converged = async () => {
      const all = (await storage.loadAll("Unit")) as Unit[];
      return all.filter((u) => u.status?.done && (u.status.rev ?? 0) === (u.spec.rev ?? 0)).length;
    };
    const settled = await until(async () => (await converged()) === devices, 180_000);
    const finalConverged = await converged();
    const lost = devices - finalConverged;
    for (const member of live()) await member.stop();
    const { runs, overlaps } = journalRuns(readFileSync(journal, "utf8"), diedAt);
    const kills = diedAt.size;
    const maxTakeover = takeovers.length > 0 ? Math.max(...takeovers) : 0;
    log(`overlaps ${overlaps.length}, lost ${lost}, runs ${int(runs.length)}, max take-over ${int(maxTakeover)} ms`);
    const md = [
      "# converge chaos run",
      "",
      `Generated by \`npm run chaos${args.quick ? " -- --quick" : ""}\` on ${new Date().toISOString()}: a 3-node nats-server ${nc.info?.version ?? ""} cluster on loopback ` +
        `(storage and leases R3), 3 controller processes (\`test/fixtures/controller-process.ts\`: \`KvSharding\`, ${PARTITIONS} partitions, ` +
        `leaseMs ${LEASE_MS}, inline reconciles that wait 5 ms and write their status), ${int(devices)} devices whose specs kept changing (100 devices every 250 ms) ` +
        `throughout, and for ${args.seconds} s a random SIGKILL every 5-10 s: of a controller (a replacement joins under a new identity) or of a NATS node ` +
        `(restarted 3-6 s later). Every run's start and end was journaled by its process.`,
      "",
      "| figure | value |",
      "|---|---:|",
      `| controllers SIGKILLed | ${kills} |`,
      `| NATS nodes SIGKILLed | ${nodeOutages.length} |`,
      `| take-over after a controller kill, max (ms; bound 2 x leaseMs = ${2 * LEASE_MS}) | ${int(maxTakeover)} |`,
      `| take-over, each (ms) | ${takeovers.map((t) => int(t)).join(", ") || "-"} |`,
      `| spec changes | ${int(specChanges)} |`,
      `| reconcile runs journaled | ${int(runs.length)} |`,
      `| runs per device | ${(runs.length / devices).toFixed(2)} |`,
      `| **overlaps** (a key running in two processes at once) | **${overlaps.length}** |`,
      `| **lost** (devices not converged to their latest spec ${settled ? "" : "within 180 s "}after the chaos) | **${lost}** |`,
      "",
      overlaps.length > 0 ? `First overlaps: ${overlaps.slice(0, 10).join("; ")}` : "",
    ].join("\n");
    writeFileSync(join(repoRoot(), "bench", args.quick ? "CHAOS.quick.md" : "CHAOS.md"), `${md}\n`);
    log(`wrote bench/${args.quick ? "CHAOS.quick.md" : "CHAOS.md"}`);
    return overlaps.length === 0 && lost === 0 ? 0 : 1;
  } finally {
    for (const member of members.values()) if (member.alive) await member.kill();
    await storage.close().catch(() => {});
    await nc.close().catch(() => {});
    await cluster.remove();
    rmSync(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
