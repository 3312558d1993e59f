import { EffectRecorder } from "../pool/effects.js";
import { toWireError, type BatchItem, type ClientOp, type ItemOutcome } from "../pool/protocol.js";
import { bindResource, CONTEXT_INTERNALS, type InternalContext } from "./context.js";
import { ReconcileTimeoutError } from "./errors.js";
import type { Logger } from "./logger.js";
import type { Reconciler, Result } from "./reconciler.js";

export interface RunEnvironment {
  logger: Logger;
  signal: AbortSignal;
  call(op: ClientOp, args: unknown[]): Promise<unknown>;
}

/**
 * Runs one reconcile and turns whatever happens into an outcome; never throws.
 * The same code runs in workers and inline, so both isolations behave alike.
 */
export async function runReconcile(reconciler: Reconciler, item: BatchItem, env: RunEnvironment): Promise<ItemOutcome> {
  const effects = new EffectRecorder();
  const ctx: InternalContext = {
    request: item.reason === undefined
      ? { resourceKind: item.kind, resourceUid: item.uid }
      : { resourceKind: item.kind, resourceUid: item.uid, reason: item.reason },
    signal: env.signal,
    attempt: item.attempt,
    logger: env.logger,
    [CONTEXT_INTERNALS]: { effects, call: env.call },
  };
  bindResource(item.resource, effects);
  const start = performance.now();
  let outcome: ItemOutcome;
  try {
    const result = await reconciler.reconcile(ctx, item.resource as never);
    outcome = outcomeOf(item, result);
  } catch (error) {
    const reason: unknown = env.signal.reason;
    // One signal serves a whole batch (one timer, one controller): name this key in the error.
    const timedOut = env.signal.aborted && reason instanceof ReconcileTimeoutError && !isTerminal(error);
    const cause = timedOut ? new ReconcileTimeoutError(`${item.kind}/${item.uid}`, reason.timeoutMs) : error;
    outcome = { h: item.h, error: toWireError(cause), ms: 0 };
  }
  outcome.ms = performance.now() - start;
  const recorded = effects.toEffects(item.resource as { status?: unknown });
  if (recorded) outcome.effects = recorded;
  return outcome;
}

function outcomeOf(item: BatchItem, result: Result | void): ItemOutcome {
  if (result === undefined || result === null) return { h: item.h, ms: 0 };
  if (typeof result !== "object") return invalid(item, `returned ${typeof result}, expected a Result object or nothing`);
  const { requeue, requeueAfter } = result;
  if (requeue !== undefined && typeof requeue !== "boolean") {
    return invalid(item, `Result.requeue must be a boolean, got ${typeof requeue}`);
  }
  if (requeueAfter !== undefined && (typeof requeueAfter !== "number" || !Number.isFinite(requeueAfter) || requeueAfter < 0)) {
    return invalid(item, `Result.requeueAfter must be a finite number of ms >= 0, got ${String(requeueAfter)}`);
  }
  const outcome: ItemOutcome = { h: item.h, ms: 0 };
  if (requeue) outcome.requeue = true;
  if (requeueAfter) outcome.requeueAfter = requeueAfter;
  return outcome;
}

function invalid(item: BatchItem, message: string): ItemOutcome {
  return { h: item.h, ms: 0, error: { name: "TypeError", code: "ERR_INVALID_RESULT", message: `${item.kind}/${item.uid}: reconcile ${message}` } };
}

function isTerminal(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === "ERR_TERMINAL";
}
