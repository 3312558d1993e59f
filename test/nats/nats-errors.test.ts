import { JetStreamApiError, JetStreamError } from "@nats-io/jetstream";
import { errors } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { isPayloadTooLarge, isTransient } from "../../src/nats/nats-errors.js";

const apiError = (code: number, err_code: number, description: string) => new JetStreamApiError({ code, err_code, description });

/** A direct get's status reply, as the client raises it (a JetStreamError with the status code). */
function statusError(code: number): JetStreamError {
  return Object.assign(new JetStreamError(`status ${code}`), { code });
}

function jetStreamNotEnabled(cause?: unknown): Error {
  const error = new Error("jetstream is not enabled", cause === undefined ? undefined : { cause });
  error.name = "JetStreamNotEnabled";
  return error;
}

describe("isTransient (the one NATS retry rule of both backends)", () => {
  const cases: [string, unknown, boolean][] = [
    ["a request timeout", new errors.TimeoutError(), true],
    ["no responders", new errors.RequestError("no responders", { cause: new errors.NoRespondersError("$JS.API.x") }), true],
    ["another request error", new errors.RequestError("failed"), false],
    ["a JetStream 503", apiError(503, 10039, "jetstream not ready"), true],
    ["a store the server could not create", apiError(500, 10049, "error creating store for stream"), true],
    ["a consumer store the server could not create", apiError(500, 10012, "error creating store for consumer"), true],
    ["another 500", apiError(500, 10049, "stream name already in use"), false],
    ["wrong last sequence", apiError(400, 10071, "wrong last sequence: 3"), false],
    ["a direct get's 503", statusError(503), true],
    ["a direct get's 408", statusError(408), true],
    ["a direct get's 404", statusError(404), false],
    ["no JetStream yet (js.publish before the stream listens)", jetStreamNotEnabled(), true],
    ["an account without JetStream", jetStreamNotEnabled(apiError(503, 10039, "jetstream not enabled for account")), false],
    ["a permission violation", new errors.PermissionViolationError("Permissions Violation", "publish", "x"), false],
    ["a closed connection", new errors.ClosedConnectionError(), false],
    ["not an Error", "timeout", false],
  ];
  for (const [what, error, transient] of cases) {
    it(`${transient ? "retries" : "does not retry"} ${what}`, () => {
      expect(isTransient(error)).toBe(transient);
    });
  }
});

describe("isPayloadTooLarge", () => {
  it("is the client's refusal of a message over max_payload, and nothing else", () => {
    expect(isPayloadTooLarge(new errors.InvalidArgumentError("payload", { cause: new Error("x") }))).toBe(false);
    expect(isPayloadTooLarge(errors.InvalidArgumentError.format("payload", "max_payload size exceeded"))).toBe(true);
    expect(isPayloadTooLarge(new Error("max_payload size exceeded"))).toBe(false);
  });
});
