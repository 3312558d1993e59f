import { setMaxListeners } from "node:events";
import type { ClientOp } from "../pool/protocol.js";
import type { EffectRecorder } from "../pool/effects.js";
import { CONTEXT_INTERNALS, type ContextInternals, type InternalContext } from "./context.js";
import { ReconcileTimeoutError } from "./errors.js";
import type { Logger } from "./logger.js";
import type { ReconcileRequest } from "./reconciler.js";

/**
 * The `ctx` of one reconcile, with its own deadline and `ctx.signal`, counted
 * from its own start. One object per reconcile, with `signal` a getter on the
 * class: an object literal with a getter, or a second object for the
 * deadline, cost the inline first pass a tenth of its throughput.
 *
 * The AbortController (and its timer) are made only when the reconcile reads
 * `ctx.signal`: on Node 20 an AbortSignal costs 2-4 µs to create, more than a
 * trivial reconcile, and most periodic checks never look at it. A reconcile
 * that never reads its signal cannot be told to stop; one stuck for good is
 * the watchdog's business (its thread is replaced).
 */
export class RunContext implements InternalContext {
  readonly request: ReconcileRequest;
  readonly attempt: number;
  readonly logger: Logger;
  readonly fence?: { readonly partition: number; readonly token: number };
  readonly [CONTEXT_INTERNALS]: ContextInternals;
  readonly kind: string;
  readonly uid: string;
  /** performance.now() when the reconcile started. */
  readonly startedAt: number;
  readonly timeoutMs: number;
  #controller: AbortController | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #reason: unknown;
  #aborted = false;
  #ended = false;

  constructor(
    item: { kind: string; uid: string; reason?: string; attempt: number; fence?: { partition: number; token: number } },
    logger: Logger,
    timeoutMs: number,
    effects: EffectRecorder,
    call: (op: ClientOp, args: unknown[]) => Promise<unknown>,
  ) {
    this.kind = item.kind;
    this.uid = item.uid;
    this.request = item.reason === undefined
      ? { resourceKind: item.kind, resourceUid: item.uid }
      : { resourceKind: item.kind, resourceUid: item.uid, reason: item.reason };
    this.attempt = item.attempt;
    this.logger = logger;
    if (item.fence !== undefined) this.fence = item.fence;
    this[CONTEXT_INTERNALS] = { effects, call };
    this.timeoutMs = timeoutMs;
    this.startedAt = performance.now();
  }

  get signal(): AbortSignal {
    if (this.#controller) return this.#controller.signal;
    const controller = (this.#controller = new AbortController());
    // The signal is this reconcile's alone: helpers that add a listener per
    // wait (`sleep(ms, signal)`) must not warn at the eleventh.
    try {
      setMaxListeners(0, controller.signal);
    } catch {
      // A runtime whose node:events does not take EventTargets has no such warning either.
    }
    if (this.#aborted) controller.abort(this.#reason);
    else if (!this.#ended) {
      const left = Math.max(0, this.startedAt + this.timeoutMs - performance.now());
      this.#timer = setTimeout(() => this.abort(new ReconcileTimeoutError(`${this.kind}/${this.uid}`, this.timeoutMs)), left);
    }
    return controller.signal;
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  /** Why it was aborted (a ReconcileTimeoutError at the deadline), if it was. */
  get reason(): unknown {
    return this.#reason;
  }

  abort(reason: unknown): void {
    if (this.#aborted || this.#ended) return;
    this.#aborted = true;
    this.#reason = reason;
    clearTimeout(this.#timer);
    this.#controller?.abort(reason);
  }

  /** The reconcile is over: no timer outlives it. */
  end(): void {
    this.#ended = true;
    clearTimeout(this.#timer);
  }
}
