import { ConvergeError, ValidationError } from "../../src/index.js";

/** What a call with a malformed input must fail with. */
export interface Expected {
  /** Describes the input, for the report. */
  what: string;
  /** A ValidationError's path: exactly this string, or matching this RegExp. */
  path?: string | RegExp;
  /** Codes of other ConvergeErrors accepted instead of a ValidationError (e.g. a too-large publish). */
  codes?: readonly string[];
}

/**
 * Sends malformed inputs and keeps count: every call must reject with a
 * ConvergeError whose message names what was wrong. Problems are collected
 * (not thrown), so one run reports all of them at once.
 */
export class Rejections {
  /** Calls rejected cleanly, per target. */
  readonly rejected = new Map<string, number>();
  /** Calls made, per target. */
  readonly sent = new Map<string, number>();
  /** Inputs that were accepted, or rejected without a clear error. */
  readonly problems: string[] = [];

  async expect(target: string, expected: Expected, call: () => unknown): Promise<void> {
    this.sent.set(target, (this.sent.get(target) ?? 0) + 1);
    try {
      await call();
    } catch (error) {
      const problem = judge(error, expected);
      if (problem === undefined) this.rejected.set(target, (this.rejected.get(target) ?? 0) + 1);
      else this.problems.push(`${target}: ${expected.what}: ${problem}`);
      return;
    }
    this.problems.push(`${target}: ${expected.what}: was ACCEPTED`);
  }

  total(map: Map<string, number>): number {
    let sum = 0;
    for (const n of map.values()) sum += n;
    return sum;
  }
}

/** Why `error` is not a clean rejection of `expected`, or undefined when it is. */
export function judge(error: unknown, expected: Expected): string | undefined {
  if (!(error instanceof ConvergeError)) {
    return `rejected with ${(error as Error)?.constructor?.name ?? typeof error}, not a ConvergeError: ${String((error as Error)?.message ?? error).slice(0, 200)}`;
  }
  if (typeof error.code !== "string" || error.code === "") return "error has no code";
  if (typeof error.message !== "string" || error.message.trim() === "") return "error has an empty message";
  if (error instanceof ValidationError) {
    const { path } = error;
    if (path === "") return "ValidationError with an empty path";
    // The message names the path, then says what is wrong with it.
    if (!error.message.startsWith(`${path}: `) || error.message.length <= path.length + 2) {
      return `message does not name the path and a problem: ${error.message.slice(0, 200)}`;
    }
    if (expected.path !== undefined) {
      const ok = typeof expected.path === "string" ? path === expected.path : expected.path.test(path);
      if (!ok) return `path ${JSON.stringify(path.slice(0, 200))}, expected ${String(expected.path)} (${error.message.slice(0, 200)})`;
    }
    return undefined;
  }
  if (expected.codes?.includes(error.code)) return undefined;
  return `${error.name} (${error.code}) where a ValidationError was expected: ${error.message.slice(0, 200)}`;
}
