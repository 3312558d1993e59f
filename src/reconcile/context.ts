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
// resource a reconcile was given points back to its recorder, through a
// property no copy, codec or comparison sees (not enumerable, symbol-keyed).
// A WeakMap did this before: every reconcile added an ephemeron, and the
// garbage collector's work on 100k of them cost a first pass over a tenth.
const RESOURCE_RECORDER = Symbol.for("converge.reconcile.resourceRecorder");

type Bound = { [RESOURCE_RECORDER]?: EffectRecorder };

// Only for a resource that cannot take the property (frozen, sealed).
function recorders(): WeakMap<object, EffectRecorder> {
  const g = globalThis as { [RESOURCE_RECORDERS]?: WeakMap<object, EffectRecorder> };
  return (g[RESOURCE_RECORDERS] ??= new WeakMap());
}

export function bindResource(resource: unknown, effects: EffectRecorder): void {
  if (typeof resource !== "object" || resource === null) return;
  if (Object.isExtensible(resource)) {
    Object.defineProperty(resource, RESOURCE_RECORDER, { value: effects, writable: true, configurable: true });
  } else {
    recorders().set(resource, effects);
  }
}

export function recorderOfResource(resource: object): EffectRecorder | undefined {
  return (resource as Bound)[RESOURCE_RECORDER] ?? recorders().get(resource);
}
