import type { EffectRecorder } from "../pool/effects.js";
import type { ClientOp } from "../pool/protocol.js";
import type { ReconcileContext } from "./reconciler.js";

// Registry symbols, not module-local ones: a reconciler module may load its
// own copy of converge (another path, a worker), and must still find these.
export const CONTEXT_INTERNALS: unique symbol = Symbol.for("converge.reconcile.context") as never;
const RESOURCE_RECORDERS = Symbol.for("converge.reconcile.resourceRecorders");

/** How a context reaches the main thread: directly (inline) or over a port (worker). */
export interface ContextInternals {
  readonly effects: EffectRecorder;
  call(op: ClientOp, args: unknown[]): Promise<unknown>;
}

export type InternalContext = ReconcileContext & { readonly [CONTEXT_INTERNALS]: ContextInternals };

export function internalsOf(ctx: ReconcileContext): ContextInternals {
  const internals = (ctx as Partial<InternalContext>)[CONTEXT_INTERNALS];
  if (!internals) {
    throw new TypeError("not a converge ReconcileContext: pass the ctx your reconcile() was given");
  }
  return internals;
}

// setCondition(resource, ...) gets no ctx (the seed's signature), so the
// resource a reconcile was given points back to its recorder.
function recorders(): WeakMap<object, EffectRecorder> {
  const g = globalThis as { [RESOURCE_RECORDERS]?: WeakMap<object, EffectRecorder> };
  return (g[RESOURCE_RECORDERS] ??= new WeakMap());
}

export function bindResource(resource: unknown, effects: EffectRecorder): void {
  if (typeof resource === "object" && resource !== null) recorders().set(resource, effects);
}

export function recorderOfResource(resource: object): EffectRecorder | undefined {
  return recorders().get(resource);
}
