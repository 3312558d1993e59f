import { AsyncLocalStorage } from "node:async_hooks";
import type { ReconcileContext } from "./reconciler.js";

// One store per process, shared by every copy of this module (see context.ts),
// so `this.logger` inside a reconcile finds the reconcile it belongs to even
// when several run concurrently in one worker.
const STORE = Symbol.for("converge.reconcile.currentContext");

function store(): AsyncLocalStorage<ReconcileContext> {
  const g = globalThis as { [STORE]?: AsyncLocalStorage<ReconcileContext> };
  return (g[STORE] ??= new AsyncLocalStorage<ReconcileContext>());
}

export function runWithContext<T>(ctx: ReconcileContext, fn: () => T): T {
  return store().run(ctx, fn);
}

export function currentContext(): ReconcileContext | undefined {
  return store().getStore();
}
