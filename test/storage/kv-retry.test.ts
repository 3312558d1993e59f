import { errors } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { StorageClosedError } from "../../src/storage/errors.js";
import { KvUnavailableError } from "../../src/storage/kv-errors.js";
import { withRetries } from "../../src/storage/kv-retry.js";

const policy = { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 };
const open = () => new AbortController().signal;

describe("withRetries", () => {
  it("returns the first success, retrying transient failures", async () => {
    let calls = 0;
    const value = await withRetries("op", policy, open(), async () => {
      if (++calls < 3) throw new errors.TimeoutError();
      return "ok";
    });
    expect([value, calls]).toEqual(["ok", 3]);
  });

  it("rejects at once with a failure a retry cannot change", async () => {
    let calls = 0;
    const refused = new Error("wrong last sequence");
    await expect(withRetries("op", policy, open(), async () => {
      calls++;
      throw refused;
    })).rejects.toBe(refused);
    expect(calls).toBe(1);
  });

  it("gives up with KvUnavailableError naming the operation and the attempts", async () => {
    let calls = 0;
    const error = await withRetries("save Device/d1", policy, open(), async () => {
      calls++;
      throw new errors.TimeoutError();
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KvUnavailableError);
    expect(error).toMatchObject({ operation: "save Device/d1", attempts: 3 });
    expect(calls).toBe(3);
  });

  it("turns an operation that throws synchronously into a rejection, retried like any other", async () => {
    let calls = 0;
    const attempt = withRetries("op", policy, open(), () => {
      if (++calls === 1) throw new errors.TimeoutError();
      return Promise.resolve("second");
    });
    expect(attempt).toBeInstanceOf(Promise);
    await expect(attempt).resolves.toBe("second");
    const refused = withRetries("op", policy, open(), () => {
      throw new TypeError("bad argument");
    });
    await expect(refused).rejects.toThrow(TypeError);
  });

  it("stops waiting between attempts with StorageClosedError when closing", async () => {
    const closing = new AbortController();
    let calls = 0;
    const attempt = withRetries("op", { attempts: 5, baseDelayMs: 60_000, maxDelayMs: 60_000 }, closing.signal, async () => {
      calls++;
      throw new errors.TimeoutError();
    });
    await Promise.resolve();
    closing.abort();
    await expect(attempt).rejects.toThrow(StorageClosedError);
    expect(calls).toBe(1);
  });
});
