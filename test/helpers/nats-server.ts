import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const NATS_INSTALL_HINT =
  "nats-server is not on PATH and NATS_URL is not set: install it with `apt-get update && apt-get install -y nats-server` (Debian's 2.9.10 is what CI uses), or point NATS_URL at a JetStream-enabled server";

export function natsServerOnPath(): boolean {
  return spawnSync("nats-server", ["--version"], { stdio: "ignore" }).status === 0;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/** A server configuration with one user, "writer" (password "pw"), who may publish anywhere but to `denied`. */
export const DENY_CONFIG = (denied: string): string =>
  `authorization { users = [ { user: "writer", password: "pw", permissions: { publish: { deny: [${JSON.stringify(denied)}] } } } ] }\n`;

export interface NatsServerOptions {
  /** JetStream store directory; a fresh temporary one by default (removed by `remove()`). */
  storeDir?: string;
  /** A free port by default; pass the old one to restart "the same" server. */
  port?: number;
  /** Extra command-line arguments, e.g. `["--auth", "s3cret"]`. */
  args?: string[];
  /** A configuration file's text (users, permissions, …), written into the store directory and passed with `-c`. */
  config?: string;
}

/**
 * A real nats-server with JetStream on loopback, for tests. `kill()` sends
 * SIGKILL (a crash, not a shutdown); `start` again on the same storeDir and port
 * is a restart that keeps the streams.
 */
export class NatsServer {
  private constructor(
    readonly url: string,
    readonly port: number,
    readonly storeDir: string,
    private readonly ownsStore: boolean,
    private process: ChildProcess | undefined,
    private readonly args: string[],
  ) {}

  /**
   * The server's own warning and error lines, oldest first (at most 200). Some
   * failures reach the client only as a fixed sentence, such as "error creating
   * store for stream"; the cause is in these lines.
   */
  readonly problems: string[] = [];

  private paused = false;

  static async start(options: NatsServerOptions = {}): Promise<NatsServer> {
    if (!natsServerOnPath()) throw new Error(NATS_INSTALL_HINT);
    const ownsStore = options.storeDir === undefined;
    const storeDir = options.storeDir ?? mkdtempSync(join(tmpdir(), "converge-nats-"));
    const port = options.port ?? (await freePort());
    const args = [...(options.args ?? [])];
    if (options.config !== undefined) {
      const file = join(storeDir, "server.conf");
      writeFileSync(file, options.config);
      args.push("-c", file);
    }
    const child = spawnServer(port, storeDir, args);
    const server = new NatsServer(`nats://127.0.0.1:${port}`, port, storeDir, ownsStore, child, args);
    await server.waitReady();
    return server;
  }

  /** Starts the server again after kill/stop, same port and store. */
  async restart(): Promise<void> {
    if (this.process) throw new Error("nats-server is still running");
    this.process = spawnServer(this.port, this.storeDir, this.args);
    await this.waitReady();
  }

  /** SIGKILL: no flush, no goodbye — what a power cut looks like to clients. */
  async kill(): Promise<void> {
    await this.signal("SIGKILL");
  }

  /** SIGSTOP: the process stays, its sockets stay open, and nothing is answered or sent. */
  pause(): void {
    if (!this.process || this.paused) return;
    this.paused = true;
    this.process.kill("SIGSTOP");
  }

  /** SIGCONT after `pause`. */
  resume(): void {
    if (!this.process || !this.paused) return;
    this.paused = false;
    this.process.kill("SIGCONT");
  }

  async stop(): Promise<void> {
    await this.signal("SIGTERM");
  }

  /** The server process's id while it runs (the scale bench reads its CPU). */
  get pid(): number | undefined {
    return this.process?.pid;
  }

  /** Stops the server and removes a temporary store. */
  async remove(): Promise<void> {
    await this.stop();
    if (this.ownsStore) rmSync(this.storeDir, { recursive: true, force: true });
  }

  private async signal(signal: NodeJS.Signals): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    // A paused server would not act on SIGTERM. Only then: under Deno, a
    // SIGKILL sent after a SIGCONT never arrived (the restart tests hung).
    if (this.paused) {
      this.paused = false;
      child.kill("SIGCONT");
    }
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill(signal);
    await exited;
  }

  private async waitReady(): Promise<void> {
    const child = this.process!;
    let output = "";
    let partial = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      const text = chunk.toString();
      if (output.length < 20_000) output += text;
      const lines = (partial + text).split("\n");
      partial = lines.pop()!;
      for (const line of lines) {
        if (/\[(WRN|ERR|FTL)\]/.test(line) && this.problems.length < 200) this.problems.push(line);
      }
    });
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}:\n${output}`);
      // Ready once the client port accepts and JetStream has started.
      if (output.includes("Server is ready") && (await accepts(this.port))) return;
      if (Date.now() > deadline) throw new Error(`nats-server did not get ready on ${this.port}:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

function spawnServer(port: number, storeDir: string, args: string[]): ChildProcess {
  return spawn("nats-server", ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", storeDir, ...args], {
    stdio: ["ignore", "ignore", "pipe"],
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
