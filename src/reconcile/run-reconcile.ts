import { EffectRecorder } from "../pool/effects.js";
import { toWireError, type BatchItem, type ClientOp, type ItemOutcome } from "../pool/protocol.js";
import { bindResource } from "./context.js";
import type { Logger } from "./logger.js";
import { RunContext } from "./run-context.js";
import type { Reconciler, Result } from "./reconciler.js";

export interface RunEnvironment {
  logger: Logger;
  /** reconcileTimeout, ms: counted from this reconcile's own start. */
  timeoutMs: number;
  call(op: ClientOp, args: unknown[]): Promise<unknown>;
  /** Told the reconcile's context when it starts and undefined when it ends (so it can be aborted from outside). */
  track?(h: number, run: RunContext | undefined): void;
}

/**
 * Runs one reconcile and turns whatever happens into an outcome; never throws.
 * The same code runs in workers and inline, so both isolations behave alike.
 */
export async function runReconcile(reconciler: Reconciler, item: BatchItem, env: RunEnvironment): Promise<ItemOutcome> {
  const effects = new EffectRecorder();
  const ctx = new RunContext(item, env.logger, env.timeoutMs, effects, env.call);
  const deadline = ctx;
  const start = ctx.startedAt;
  bindResource(item.resource, effects);
  env.track?.(item.h, ctx);
  let outcome: ItemOutcome;
  try {
    const result = await reconciler.reconcile(ctx, item.resource as never);
    outcome = outcomeOf(item, result);
  } catch (error) {
    // Aborted and then thrown: the abort's reason (the timeout, a lost partition) is the cause,
    // unless the reconcile itself said the failure is terminal.
    const cause = deadline.aborted && deadline.reason instanceof Error && !isTerminal(error) ? deadline.reason : error;
    outcome = { h: item.h, error: toWireError(cause), ms: 0 };
  } finally {
    deadline.end();
    env.track?.(item.h, undefined);
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
