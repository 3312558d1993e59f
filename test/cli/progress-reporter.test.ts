import { afterEach, describe, expect, it, vi } from "vitest";
import { CappedLogger } from "../../src/cli/capped-logger.js";
import { ProgressReporter, type ProgressSample } from "../../src/cli/progress-reporter.js";

function io(isTTY: boolean) {
  const written = { out: "", err: "" };
  return {
    written,
    stdout: { isTTY, write: (chunk: string) => (written.out += chunk) },
    stderr: { write: (chunk: string) => (written.err += chunk) },
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("ProgressReporter", () => {
  it("redraws one line in place about ten times a second on a TTY, with reconciles/s", () => {
    vi.useFakeTimers();
    const target = io(true);
    const sample: ProgressSample = { converged: 0, total: 10, reconciles: 0, retries: 0, elapsedMs: 0 };
    const reporter = new ProgressReporter(target, () => ({ ...sample }), "bar");
    reporter.start();
    for (let tick = 1; tick <= 10; tick++) {
      sample.elapsedMs = tick * 100;
      sample.reconciles = tick * 50;
      sample.converged = tick;
      vi.advanceTimersByTime(100);
    }
    const frames = target.written.out.split("\r").filter(Boolean);
    expect(frames).toHaveLength(10);
    expect(target.written.out).not.toContain("\n");
    expect(frames[9]).toBe("[########################] 10/10 converged | 500 reconciles/s | 0 retries | 1.0 s\x1b[K");
    reporter.stop();
    expect(target.written.out.endsWith("\x1b[K\n")).toBe(true);
    // Stopped: no more frames.
    const length = target.written.out.length;
    vi.advanceTimersByTime(1_000);
    expect(target.written.out).toHaveLength(length);
  });

  it("writes a plain line per second when not on a TTY, and nothing when off", () => {
    vi.useFakeTimers();
    const plain = io(false);
    const sample = { converged: 3, total: 4, reconciles: 20, retries: 2, elapsedMs: 1_000 };
    const lines = new ProgressReporter(plain, () => sample, "lines");
    lines.start();
    vi.advanceTimersByTime(999);
    expect(plain.written.out).toBe("");
    vi.advanceTimersByTime(1);
    expect(plain.written.out).toBe("3/4 converged, 20 reconciles/s, 2 retries, 1.0 s elapsed\n");
    lines.stop();

    const quiet = io(true);
    const off = new ProgressReporter(quiet, () => sample, "off");
    off.start();
    vi.advanceTimersByTime(5_000);
    off.stop();
    expect(quiet.written.out).toBe("");
  });

  it("clears a drawn bar before printing a line above it", () => {
    vi.useFakeTimers();
    const target = io(true);
    const reporter = new ProgressReporter(target, () => ({ converged: 1, total: 2, reconciles: 1, retries: 0, elapsedMs: 100 }), "bar");
    reporter.start();
    vi.advanceTimersByTime(100);
    reporter.printAbove("[WARN] something");
    expect(target.written.out.endsWith("\r\x1b[K")).toBe(true);
    expect(target.written.err).toBe("[WARN] something\n");
    reporter.stop();
  });
});

describe("CappedLogger", () => {
  it("prints errors always, warnings up to the cap then counts them, and drops info and debug", () => {
    const lines: string[] = [];
    const logger = new CappedLogger((line) => lines.push(line), 2);
    logger.debug("d");
    logger.info("i");
    for (let i = 1; i <= 5; i++) logger.warn(`w${i}`, new Error("boom"));
    logger.error("e", { a: 1 });
    expect(lines).toEqual([
      "[WARN] w1 boom",
      "[WARN] w2 boom",
      "[WARN] (further warnings are counted, not printed)",
      '[ERROR] e {"a":1}',
    ]);
    expect(logger.suppressed).toBe(3);
  });
});
