import type { ClientOp } from "../pool/protocol.js";
import type { Resource } from "../storage/resource.js";
import { internalsOf } from "./context.js";
import type { ReconcileContext } from "./reconciler.js";

/**
 * What a reconcile uses to read and write other resources (Fabrica's
 * `r.Client`). Calls go to the main thread, which owns storage, whether the
 * reconcile runs inline or in a worker; semantics are StorageClient's.
 */
export interface ResourceClient {
  /** `undefined` when the resource does not exist. */
  get<R extends Resource = Resource>(ctx: ReconcileContext, kind: string, uid: string): Promise<R | undefined>;
  list<R extends Resource = Resource>(ctx: ReconcileContext, kind: string): Promise<R[]>;
  create<R extends Resource>(ctx: ReconcileContext, resource: R): Promise<R>;
  update<R extends Resource>(ctx: ReconcileContext, resource: R): Promise<R>;
  /** Resolves false when it did not exist. */
  delete(ctx: ReconcileContext, kind: string, uid: string): Promise<boolean>;
}

function call<T>(ctx: ReconcileContext, op: ClientOp, args: unknown[]): Promise<T> {
  return internalsOf(ctx).call(op, args) as Promise<T>;
}

/** Stateless: the context carries the way to the main thread. */
export const resourceClient: ResourceClient = {
  get: (ctx, kind, uid) => call(ctx, "get", [kind, uid]),
  list: (ctx, kind) => call(ctx, "list", [kind]),
  create: (ctx, resource) => call(ctx, "create", [resource]),
  update: (ctx, resource) => call(ctx, "update", [resource]),
  delete: (ctx, kind, uid) => call(ctx, "delete", [kind, uid]),
};
