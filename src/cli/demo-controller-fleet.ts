import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { Isolation } from "../reconcile/registrations.js";
import { DEMO_LEASE_MS, DEMO_PARTITIONS, type DemoControllerReport } from "./demo-controller.js";

export interface DemoFleetOptions {
  count: number;
  nats: string;
  isolation: Isolation;
  workers: number;
  failRate: number;
}

const COUNTED = ["reconciles", "retries", "failed", "timeouts", "crashes", "statusWrites"] as const;

/** What the demo shows of its controllers, however many processes they are: their reports' counts, added up. */
export type DemoControllerStats = Pick<DemoControllerReport, (typeof COUNTED)[number]>;

interface Member {
  identity: string;
  child: ChildProcess;
  last: DemoControllerReport | undefined;
  exited: Promise<void>;
}

/**
 * `demo --controllers N`: N controller processes (`converge demo-controller`)
 * sharing the fleet through KvSharding. Says each process's share as it
 * changes and every exit; a process that dies is replaced under a new
 * identity (the dead one's member key stays live for a lease), and its
 * partitions move to the others meanwhile.
 */
export class DemoControllerFleet {
  readonly #o: DemoFleetOptions;
  readonly #say: (line: string) => void;
  readonly #members: Member[] = [];
  /** Counts of processes that are gone, kept for the totals. */
  #gone: DemoControllerStats = { reconciles: 0, retries: 0, failed: 0, timeouts: 0, crashes: 0, statusWrites: 0 };
  #next = 1;
  #stopping = false;

  constructor(options: DemoFleetOptions, say: (line: string) => void) {
    this.#o = options;
    this.#say = say;
  }

  start(): void {
    for (let i = 0; i < this.#o.count; i++) this.#spawn();
  }

  stats(): DemoControllerStats {
    const total = { ...this.#gone };
    for (const member of this.#members) for (const name of COUNTED) total[name] += member.last?.[name] ?? 0;
    return total;
  }

  /** Every live process hands its partitions over and exits; resolves when all have. */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const member of this.#members) member.child.kill("SIGTERM");
    await Promise.all(this.#members.map((member) => member.exited));
  }

  #spawn(): void {
    const identity = `demo-${this.#next++}`;
    const { command, args } = selfCommand();
    const o = this.#o;
    const child = spawn(
      command,
      [...args, "demo-controller", "--nats", o.nats, "--identity", identity, "--isolation", o.isolation, "--workers", String(o.workers), "--fail-rate", String(o.failRate)],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    const member: Member = { identity, child, last: undefined, exited: new Promise((resolve) => child.once("exit", () => resolve())) };
    this.#members.push(member);
    this.#say(`controller ${identity} started (pid ${child.pid})`);
    createInterface({ input: child.stdout! }).on("line", (line) => {
      let report: DemoControllerReport;
      try {
        report = JSON.parse(line) as DemoControllerReport;
      } catch {
        return;
      }
      if (report.owned !== member.last?.owned) this.#say(`controller ${identity} holds ${report.owned} of ${DEMO_PARTITIONS} partitions`);
      member.last = report;
    });
    child.once("exit", (code, signal) => {
      const at = this.#members.indexOf(member);
      if (at >= 0) this.#members.splice(at, 1);
      for (const name of COUNTED) this.#gone[name] += member.last?.[name] ?? 0;
      if (this.#stopping) return;
      this.#say(
        `controller ${identity} exited (${signal ?? `code ${code}`}) holding ${member.last?.owned ?? 0} partitions; ` +
          `the others take them over within ${(2 * DEMO_LEASE_MS) / 1000} s; starting a replacement`,
      );
      this.#spawn();
    });
  }
}

/** This program, to run again as a child, on whichever runtime runs it. */
function selfCommand(): { command: string; args: string[] } {
  const main = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "./main.ts" : "./main.js", import.meta.url));
  const g = globalThis as { Deno?: unknown };
  return g.Deno !== undefined ? { command: process.execPath, args: ["run", "-A", "--sloppy-imports", main] } : { command: process.execPath, args: [main] };
}
