import { readFileSync } from "node:fs";
import { connect, credsAuthenticator, nkeyAuthenticator, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import * as v from "valibot";
import { ValidationError } from "../codec/errors.js";
import { redactError, redactUrls } from "../nats/redact.js";

/** How to reach NATS. Secrets here are passed to the client and never logged. */
export interface NatsConnectOptions {
  servers: string | string[];
  name?: string;
  token?: string;
  user?: string;
  pass?: string;
  /** An nkey seed (`SU...`). */
  nkeySeed?: string;
  /** Path of a `.creds` file (JWT + nkey seed). */
  credsFile?: string;
  /** TLS: `true` to require it with system CAs, or files. */
  tls?: boolean | { caFile?: string; certFile?: string; keyFile?: string };
  /** First wait between reconnect attempts (the client adds jitter). Default 250 ms. */
  reconnectTimeWaitMs?: number;
  /** Reconnect attempts before giving up; -1 (the default) is forever, as an edge device wants. */
  maxReconnectAttempts?: number;
  /** Keep retrying the first connect too (default true: a device may boot before its broker). */
  waitOnFirstConnect?: boolean;
  /** Longest wait for a server to answer a connect, in ms (the client's default is 20 s). */
  connectTimeoutMs?: number;
  /**
   * Capture where each request started, for error traces. Off by default: the
   * client builds two Error objects per request for it, a sixth of the CPU of a
   * reconcile on NATS in our profile.
   */
  asyncTraces?: boolean;
}

const SERVER = "must be a nats://, tls://, ws:// or wss:// URL or host[:port]";
const STRING = "must be a string";

// Every message is fixed text: an option may be a secret (or a URL holding
// one), so no message shows the value it refuses.
const ServerSchema = v.pipe(
  v.string(SERVER),
  v.nonEmpty("must not be empty"),
  v.regex(/^(nats|tls|ws|wss):\/\/[^\s]+$|^[^\s/:]+(:\d+)?$/, SERVER),
);

const OptionsSchema = v.object(
  {
    servers: v.union([ServerSchema, v.pipe(v.array(ServerSchema, SERVER), v.nonEmpty("must list at least one server"))], SERVER),
    name: v.optional(v.string(STRING)),
    token: v.optional(v.string(STRING)),
    user: v.optional(v.string(STRING)),
    pass: v.optional(v.string(STRING)),
    nkeySeed: v.optional(v.pipe(v.string(STRING), v.startsWith("S", "must be an nkey seed (starts with S)"))),
    credsFile: v.optional(v.pipe(v.string(STRING), v.nonEmpty("must not be empty"))),
    tls: v.optional(
      v.union(
        [
          v.boolean(),
          v.object({ caFile: v.optional(v.string(STRING)), certFile: v.optional(v.string(STRING)), keyFile: v.optional(v.string(STRING)) }, "must be true, false or { caFile, certFile, keyFile }"),
        ],
        "must be true, false or { caFile, certFile, keyFile }",
      ),
    ),
    reconnectTimeWaitMs: v.optional(v.pipe(v.number("must be an integer >= 1"), v.integer("must be an integer >= 1"), v.minValue(1, "must be an integer >= 1"))),
    maxReconnectAttempts: v.optional(v.pipe(v.number("must be an integer >= -1"), v.integer("must be an integer >= -1"), v.minValue(-1, "must be an integer >= -1"))),
    waitOnFirstConnect: v.optional(v.boolean("must be true or false")),
    connectTimeoutMs: v.optional(v.pipe(v.number("must be an integer >= 1"), v.integer("must be an integer >= 1"), v.minValue(1, "must be an integer >= 1"))),
    asyncTraces: v.optional(v.boolean("must be true or false")),
  },
  "must be an object",
);

/**
 * Connects with converge's edge defaults: reconnect forever with backoff and
 * jitter, and keep retrying the first connect too (a device may boot before
 * its broker). Throws ValidationError for bad options, naming the option.
 */
export async function connectNats(options: NatsConnectOptions): Promise<NatsConnection> {
  const parsed = v.safeParse(OptionsSchema, options);
  if (!parsed.success) {
    const issue = parsed.issues[0];
    const path = issue.path?.map((p) => String(p.key)).join(".") ?? "";
    throw new ValidationError(`nats options${path ? `.${path}` : ""}`, issue.message);
  }
  const o = parsed.output;
  const authenticators = [];
  if (o.nkeySeed) authenticators.push(nkeyAuthenticator(new TextEncoder().encode(o.nkeySeed)));
  if (o.credsFile) {
    let creds: Uint8Array;
    try {
      creds = readFileSync(o.credsFile);
    } catch (error) {
      throw new ValidationError("nats options.credsFile", `cannot read it (${(error as Error).message})`, { cause: error });
    }
    authenticators.push(credsAuthenticator(creds));
  }
  const connectOptions: NodeConnectionOptions = {
    servers: o.servers,
    name: o.name ?? "converge",
    maxReconnectAttempts: o.maxReconnectAttempts ?? -1,
    reconnectTimeWait: o.reconnectTimeWaitMs ?? 250,
    waitOnFirstConnect: o.waitOnFirstConnect ?? true,
    noAsyncTraces: !(o.asyncTraces ?? false),
  };
  if (o.connectTimeoutMs !== undefined) connectOptions.timeout = o.connectTimeoutMs;
  if (o.token !== undefined) connectOptions.token = o.token;
  if (o.user !== undefined) connectOptions.user = o.user;
  if (o.pass !== undefined) connectOptions.pass = o.pass;
  if (authenticators.length > 0) connectOptions.authenticator = authenticators;
  if (o.tls === true) connectOptions.tls = {};
  else if (typeof o.tls === "object") connectOptions.tls = { ...o.tls };
  try {
    return await connect(connectOptions);
  } catch (error) {
    // The client's errors may quote a server address with its password
    // (Node's `Invalid URL` keeps it as `input`, and in the stack).
    throw redactError(error);
  }
}

/** Server URLs with any user:password (or token) part removed, fit for a log line. */
export function redactServers(servers: string | string[]): string {
  return (Array.isArray(servers) ? servers : [servers]).map(redactUrls).join(",");
}
