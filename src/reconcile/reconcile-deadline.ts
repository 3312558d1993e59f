import { setMaxListeners } from "node:events";
import { ReconcileTimeoutError } from "./errors.js";

/**
 * One reconcile's own deadline and `ctx.signal`, counted from its own start.
 *
 * The AbortController (and its timer) are made only when the reconcile reads
 * `ctx.signal`: on Node 20 an AbortSignal costs 2-4 µs to create, more than a
 * trivial reconcile, and most periodic checks never look at it. A reconcile
 * that never reads its signal cannot be told to stop; one stuck for good is
 * the watchdog's business (its thread is replaced).
 */
export class ReconcileDeadline {
  #controller: AbortController | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #reason: unknown;
  #aborted = false;
  #ended = false;

  constructor(
    readonly kind: string,
    readonly uid: string,
    /** performance.now() when the reconcile started. */
    readonly startedAt: number,
    readonly timeoutMs: number,
  ) {}

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
