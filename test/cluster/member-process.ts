import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { type JournalEntry, wallNow } from "./journal.js";

const FIXTURE = fileURLToPath(new URL("../../dist/test/fixtures/sharding-member.js", import.meta.url));

/** A KvSharding member in a real child process (test/fixtures/sharding-member.ts; `npm run build` first). */
export class MemberProcess {
  readonly entries: JournalEntry[] = [];
  readonly owned = new Set<number>();
  readonly stderr: string[] = [];
  joined = false;
  diedAt: number | undefined;
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;

  constructor(readonly who: string, servers: string[], bucket: string, partitions: number, leaseMs: number, replicas = 1) {
    this.#child = spawn(process.execPath, [FIXTURE, servers.join(","), bucket, who, String(partitions), String(leaseMs), String(replicas)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.#exited = new Promise((resolve) => this.#child.once("exit", () => resolve()));
    createInterface({ input: this.#child.stdout! }).on("line", (text) => {
      const entry = JSON.parse(text) as JournalEntry | { event: "joined" };
      if (entry.event === "joined") {
        this.joined = true;
        return;
      }
      this.entries.push(entry);
      if (entry.event === "acquired") this.owned.add(entry.partition);
      if (entry.event === "revoking") this.owned.delete(entry.partition);
    });
    createInterface({ input: this.#child.stderr! }).on("line", (text) => this.stderr.push(text));
  }

  get exitCode(): number | null {
    return this.#child.exitCode;
  }

  /** SIGKILL: the process dies with its leases held. */
  async kill(): Promise<void> {
    this.diedAt = wallNow();
    this.#child.kill("SIGKILL");
    await this.#exited;
  }

  /** SIGTERM: the fixture leaves cleanly and exits. */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    this.#child.kill("SIGTERM");
    await this.#exited;
  }
}
