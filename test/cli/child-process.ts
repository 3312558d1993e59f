// Runs the built `converge` (or another program) as a real child process, for
// tests that need its exit status, its streams and signals sent to it.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const MAIN = fileURLToPath(new URL("../../dist/src/cli/main.js", import.meta.url));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A running child: its output so far, a wait for a line matching a pattern, and its exit. */
export interface Running {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Resolves with the first match of `pattern` in stdout (or stderr), as soon as it is written. */
  output(pattern: RegExp): Promise<RegExpExecArray>;
  readonly exited: Promise<Exit>;
}

/** Starts `command args` with the log level and fail-rate variables of the outer run removed. */
export function start(command: string, args: readonly string[], env: Record<string, string> = {}): Running {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete childEnv.CONVERGE_DEMO_FAIL_RATE;
  if (env.CONVERGE_LOG_LEVEL === undefined) delete childEnv.CONVERGE_LOG_LEVEL;
  const child = spawn(command, args, { cwd: ROOT, env: childEnv, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  const waiters = new Set<() => void>();
  const wake = () => waiters.forEach((w) => w());
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => ((stdout += chunk), wake()));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => ((stderr += chunk), wake()));
  const exited = new Promise<Exit>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      resolve({ code, signal, stdout, stderr });
      wake();
    });
  });
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    output(pattern) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(stdout) ?? pattern.exec(stderr);
          if (match) {
            waiters.delete(check);
            resolve(match);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            waiters.delete(check);
            reject(new Error(`exited (${child.exitCode ?? child.signalCode}) before printing ${pattern}:\n${stdout}\n${stderr}`));
          }
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** Starts the built `converge` with `args`. */
export function startConverge(args: readonly string[], env: Record<string, string> = {}): Running {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first (npm test does)`);
  return start(process.execPath, [MAIN, ...args], env);
}

/** Runs the built `converge` to its end; `input` is written to its stdin. */
export async function converge(args: readonly string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<Exit> {
  const running = startConverge(args, options.env);
  running.child.stdin!.end(options.input ?? "");
  return running.exited;
}
