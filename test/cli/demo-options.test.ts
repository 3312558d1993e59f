import { availableParallelism } from "node:os";
import { describe, expect, it } from "vitest";
import { ValidationError } from "../../src/codec/errors.js";
import { parseDemoArgs, resolveDemoOptions, type DemoOptions } from "../../src/cli/demo-options.js";
import { UsageError } from "../../src/cli/usage-error.js";

function options(args: string[]): DemoOptions {
  const command = parseDemoArgs(args);
  if (command.help) throw new Error("expected options, got help");
  return command.options;
}

function usageError(args: string[]): UsageError {
  try {
    parseDemoArgs(args);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return error as UsageError;
  }
  throw new Error(`${args.join(" ")} was accepted`);
}

describe("parseDemoArgs", () => {
  it("has the documented defaults", () => {
    expect(options([])).toEqual({
      devices: 10_000,
      failRate: 0.05,
      isolation: "worker",
      workers: availableParallelism(),
      timeoutMs: 300_000,
      changes: 0.1,
      quiet: false,
      controllers: 1,
    });
  });

  it("reads every flag, --timeout in seconds, --flag=value and -q", () => {
    expect(options(["--devices", "25", "--fail-rate=0.5", "--isolation", "inline", "--workers", "3", "--timeout", "1.5", "--changes", "0", "-q"])).toEqual({
      devices: 25,
      failRate: 0.5,
      isolation: "inline",
      workers: 3,
      timeoutMs: 1_500,
      changes: 0,
      quiet: true,
      controllers: 1,
    });
    expect(options(["--nats", "nats://127.0.0.1:4222", "--controllers", "3"]).controllers).toBe(3);
    expect(() => options(["--controllers", "0"])).toThrow(/--controllers: must be a positive integer/);
    expect(options(["--devices", "1000000", "--fail-rate", "1", "--changes", "1"]).devices).toBe(1_000_000);
  });

  it("--help and -h ask for help", () => {
    expect(parseDemoArgs(["--help"])).toEqual({ help: true });
    expect(parseDemoArgs(["--devices", "3", "-h"])).toEqual({ help: true });
  });

  it.each([
    [["--devices", "-3"], "--devices", "--devices: must be a positive integer <= 1,000,000, got -3"],
    [["--devices", "0"], "--devices", "got 0"],
    [["--devices", "1000001"], "--devices", "<= 1,000,000, got 1000001"],
    [["--devices", "2.5"], "--devices", "positive integer"],
    [["--devices", "ten"], "--devices", '--devices: must be a number, got "ten"'],
    [["--devices", ""], "--devices", 'must be a number, got ""'],
    [["--devices"], "--devices", "--devices: needs a value"],
    [["--fail-rate", "2"], "--fail-rate", "--fail-rate: must be a probability between 0 and 1, got 2"],
    [["--fail-rate", "-0.1"], "--fail-rate", "got -0.1"],
    [["--isolation", "thread"], "--isolation", '--isolation: must be "worker" or "inline", got "thread"'],
    [["--workers", "0"], "--workers", "--workers: must be a positive integer"],
    [["--timeout", "0"], "--timeout", "--timeout: must be more than 0"],
    [["--timeout", "86401"], "--timeout", "at most one day"],
    [["--changes", "1.5"], "--changes", "--changes: must be a fraction between 0 and 1, got 1.5"],
    [["--bogus"], "--bogus", "--bogus: unknown flag"],
    [["-x"], "-x", "-x: unknown flag"],
    [["--quiet=yes"], "--quiet", "--quiet: takes no value"],
    [["extra"], "extra", "unexpected argument"],
  ])("%j is a usage error naming %s", (args, flag, message) => {
    const error = usageError(args);
    expect(error.flag).toBe(flag);
    expect(error.code).toBe("ERR_USAGE");
    expect(error.message).toContain(message);
  });
});

describe("resolveDemoOptions", () => {
  it("fills in defaults and keeps what is given", () => {
    const resolved = resolveDemoOptions({ devices: 7, isolation: "inline", timeoutMs: 50 });
    expect(resolved).toMatchObject({ devices: 7, isolation: "inline", timeoutMs: 50, failRate: 0.05, changes: 0.1, quiet: false });
  });

  it("rejects a bad option with a ValidationError naming it", () => {
    expect(() => resolveDemoOptions({ workers: 0 })).toThrow(ValidationError);
    expect(() => resolveDemoOptions({ workers: 0 })).toThrow("options.workers: must be a positive integer <= 1,024, got 0");
    expect(() => resolveDemoOptions({ timeoutMs: Number.NaN })).toThrow(/^options\.timeoutMs: /);
    expect(() => resolveDemoOptions({ isolation: "thread" as never })).toThrow('options.isolation: must be "worker" or "inline", got "thread"');
    expect(() => resolveDemoOptions({ signal: {} as never })).toThrow("options.signal: must be an AbortSignal");
    expect(() => resolveDemoOptions({ devicez: 3 } as never)).toThrow("options.devicez: is not a demo option");
  });
});
