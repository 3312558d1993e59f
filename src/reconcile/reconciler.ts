import type { Resource } from "../storage/resource.js";
import type { Logger } from "./logger.js";

/** What to do with the key after a reconcile (Fabrica's reconcile.Result). */
export interface Result {
  /** Requeue with the rate limiter's backoff. */
  requeue?: boolean;
  /** Requeue after this many ms; resets the failure count. Wins over `requeue`. */
  requeueAfter?: number;
}

/** A request to reconcile one resource. The key is `kind/uid`; `reason` never splits a key. */
export interface ReconcileRequest {
  resourceKind: string;
  resourceUid: string;
  reason?: string;
}

/** Passed to every reconcile. */
export interface ReconcileContext {
  readonly request: ReconcileRequest;
  /** Aborted when the reconcile exceeds `reconcileTimeout`: stop work and return or throw. */
  readonly signal: AbortSignal;
  /** 1 on the first try, then counts retries since the last success. */
  readonly attempt: number;
  readonly logger: Logger;
  /**
   * Scale-out only (controller option `sharding` or `leaderElection`): the
   * lease this process holds on the key's partition. `token` grows across
   * holders, so a device that remembers the highest token it has seen can
   * refuse a command from a process that lost the partition.
   */
  readonly fence?: { readonly partition: number; readonly token: number };
}

/** Converges one kind of resource (Fabrica's reconcile.Reconciler). */
export interface Reconciler<R extends Resource = Resource> {
  readonly resourceKind: string;
  reconcile(ctx: ReconcileContext, resource: R): Promise<Result | void>;
}
