import { describe, expect, it } from "vitest";
import { defaultLogger, type Logger } from "../../src/reconcile/logger.js";

function recording(level?: "debug" | "info" | "warn" | "error" | "silent"): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: defaultLogger({ ...(level ? { level } : {}), write: (line) => void lines.push(line) }), lines };
}

describe("defaultLogger", () => {
  it("prints structured fields after the message as key=value on one line, quoting values with spaces", () => {
    const { logger, lines } = recording("debug");
    logger.warn({ kind: "Device", uid: "dev-1", attempt: 3, err: new Error("device unreachable") }, "reconcile failed");
    logger.info({ kind: "Device", skipped: undefined, labels: { zone: "eu" } }, "listed");
    expect(lines).toEqual([
      '[WARN] reconcile failed kind=Device uid=dev-1 attempt=3 err="device unreachable"',
      '[INFO] listed kind=Device labels="{\\"zone\\":\\"eu\\"}"',
    ]);
  });

  it("still prints the old (message, ...args) form as before", () => {
    const { logger, lines } = recording();
    logger.error("write failed:", new Error("boom"), { a: 1 });
    expect(lines).toEqual(['[ERROR] write failed: boom {"a":1}']);
  });

  it("drops lines below its level; info by default, so per-resource debug lines stay quiet", () => {
    const previous = process.env.CONVERGE_LOG_LEVEL;
    delete process.env.CONVERGE_LOG_LEVEL;
    try {
      const { logger, lines } = recording();
      logger.debug({ kind: "Device", uid: "dev-1" }, "reconciled");
      logger.info("started");
      expect(lines).toEqual(["[INFO] started"]);
      process.env.CONVERGE_LOG_LEVEL = "debug";
      const verbose = recording();
      verbose.logger.debug({ uid: "dev-1" }, "reconciled");
      expect(verbose.lines).toEqual(["[DEBUG] reconciled uid=dev-1"]);
      process.env.CONVERGE_LOG_LEVEL = "error";
      const quiet = recording();
      quiet.logger.warn("w");
      expect(quiet.lines).toEqual([]);
    } finally {
      if (previous === undefined) delete process.env.CONVERGE_LOG_LEVEL;
      else process.env.CONVERGE_LOG_LEVEL = previous;
    }
  });

  it("takes console and pino's (mergingObject, message) order: console is a Logger", () => {
    const asLogger: Logger = console;
    expect(typeof asLogger.info).toBe("function");
  });
});
