import { readFileSync } from "node:fs";
import { connect, credsAuthenticator, nkeyAuthenticator, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import * as v from "valibot";
import { ValidationError } from "../codec/errors.js";

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

const ServerSchema = v.pipe(
  v.string(),
  v.nonEmpty("must not be empty"),
  v.regex(/^(nats|tls|ws|wss):\/\/[^\s]+$|^[^\s/:]+(:\d+)?$/, "must be a nats://, tls://, ws:// or wss:// URL or host[:port]"),
);

const OptionsSchema = v.object({
  servers: v.union([ServerSchema, v.pipe(v.array(ServerSchema), v.nonEmpty("must list at least one server"))]),
  name: v.optional(v.string()),
  token: v.optional(v.string()),
  user: v.optional(v.string()),
  pass: v.optional(v.string()),
  nkeySeed: v.optional(v.pipe(v.string(), v.startsWith("S", "must be an nkey seed (starts with S)"))),
  credsFile: v.optional(v.pipe(v.string(), v.nonEmpty())),
  tls: v.optional(
    v.union([
      v.boolean(),
      v.object({ caFile: v.optional(v.string()), certFile: v.optional(v.string()), keyFile: v.optional(v.string()) }),
    ]),
  ),
  reconnectTimeWaitMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
  maxReconnectAttempts: v.optional(v.pipe(v.number(), v.integer(), v.minValue(-1))),
  waitOnFirstConnect: v.optional(v.boolean()),
  connectTimeoutMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
  asyncTraces: v.optional(v.boolean()),
});

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
  return connect(connectOptions);
}

/** Server URLs with any user:password part removed, fit for a log line. */
export function redactServers(servers: string | string[]): string {
  return (Array.isArray(servers) ? servers : [servers]).map((s) => s.replace(/\/\/[^@/]*@/, "//***@")).join(",");
}
