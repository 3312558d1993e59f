// Helpers for the portable suite: written once, run by node:test on Node (built
// files under dist/), by `bun test` and by `deno test` (source .ts). Only
// web-standard APIs and node: modules all three implement are used here.
import type { Resource, Storage } from "../../src/index.js";

export type Runtime = "node" | "bun" | "deno";

/** The runtime this file runs on. */
export function runtime(): Runtime {
  const g = globalThis as { Bun?: unknown; Deno?: unknown };
  if (g.Bun !== undefined) return "bun";
  if (g.Deno !== undefined) return "deno";
  return "node";
}

/**
 * A safety net, not a timing assertion: a promise that never settles fails the
 * test with a message saying what was missing, instead of hanging the run.
 * Below `bun test`'s default 5 s per test, so this message is the one shown.
 */
export const SAFETY_TIMEOUT_MS = 4000;

/** Resolves with `p`, or rejects naming `what` when it takes longer than `ms`. */
export async function within<T>(p: Promise<T>, what: string, ms = SAFETY_TIMEOUT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The rejection reason of `p` (or of a function that throws or returns a rejecting promise). */
export async function rejection(p: Promise<unknown> | (() => unknown)): Promise<unknown> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection, but it resolved");
}

/** One macrotask turn, so queued deliveries and handlers can interleave. */
export function tick(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * Resolves once every listed resource satisfies `done`, watching storage (no
 * polling); rejects after `limitMs` naming the holdouts.
 */
export async function untilAll<R extends Resource>(
  storage: Storage,
  kind: string,
  uids: readonly string[],
  done: (resource: R) => boolean,
  limitMs = 20_000,
): Promise<void> {
  const pending = new Set(uids);
  const abort = new AbortController();
  // Watch before loading: a change between the two is seen, never missed.
  const changes = storage.watch(kind, { signal: abort.signal });
  for (const uid of uids) {
    const resource = (await storage.load(kind, uid)) as R | undefined;
    if (resource && done(resource)) pending.delete(uid);
  }
  if (pending.size === 0) {
    abort.abort();
    return;
  }
  const timer = setTimeout(() => abort.abort(), limitMs);
  try {
    for await (const change of changes) {
      if (change.type === "put" && pending.has(change.uid) && done(change.value as R)) pending.delete(change.uid);
      if (pending.size === 0) return;
    }
    throw new Error(`not done within ${limitMs} ms: ${[...pending].slice(0, 10).join(", ")}${pending.size > 10 ? "…" : ""}`);
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}

/** Runs `fn` with console.log captured; returns what it printed, line by line. */
export async function capturingConsoleLog<T>(fn: () => Promise<T>): Promise<{ value: T; lines: string[] }> {
  const lines: string[] = [];
  const original = console.log;
  console.log = (...args: unknown[]) => void lines.push(args.map(String).join(" "));
  try {
    return { value: await fn(), lines };
  } finally {
    console.log = original;
  }
}
