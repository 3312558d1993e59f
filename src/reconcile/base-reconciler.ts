import type { Resource } from "../storage/resource.js";
import { assertEventType, assertKind, assertUid } from "../codec/names.js";
import { conditionsOf, setCondition, type ConditionStatus } from "./conditions.js";
import { internalsOf, recorderOfResource } from "./context.js";
import { defaultLogger, type Logger } from "./logger.js";
import type { ReconcileContext, ReconcileRequest, Reconciler, Result } from "./reconciler.js";
import { resourceClient, type ResourceClient } from "./resource-client.js";

const FINALIZER = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,251}[A-Za-z0-9])?$/;

function assertFinalizer(name: unknown): void {
  if (typeof name !== "string" || !FINALIZER.test(name)) {
    throw new TypeError(
      `finalizer ${JSON.stringify(name)}: must be 1-253 letters, digits, '.', '_', '/' or '-', starting and ending with a letter or digit (e.g. "example.com/cleanup")`,
    );
  }
}

/**
 * Common reconciler machinery (Fabrica's BaseReconciler). Needs no constructor
 * arguments: the controller wires logger and client in, and the helpers record
 * effects on the context, which the controller's main thread applies after the
 * reconcile returns — so a subclass works unchanged inline or in a worker.
 */
export abstract class BaseReconciler<R extends Resource = Resource> implements Reconciler<R> {
  abstract readonly resourceKind: string;
  abstract reconcile(ctx: ReconcileContext, resource: R): Promise<Result | void>;

  /** Reads and writes other resources; every call takes the reconcile's ctx. */
  client: ResourceClient = resourceClient;

  #logger: Logger | undefined;

  /**
   * The controller's logger: the controller sets it on an inline reconciler,
   * and a worker thread sets one that reaches the controller's logger too.
   * Standalone, the default logger.
   */
  get logger(): Logger {
    return (this.#logger ??= defaultLogger());
  }

  set logger(logger: Logger) {
    this.#logger = logger;
  }

  /**
   * Writes `resource.status` as it is now, with compare-and-swap on the revision
   * the reconcile read. On a conflict the key is reconciled again at once; a
   * status equal to the stored one is not written.
   */
  async updateStatus(ctx: ReconcileContext, resource: R): Promise<void> {
    this.assertOwnResource(ctx, resource, "updateStatus");
    internalsOf(ctx).effects.recordStatus(resource.status);
  }

  /** Publishes a CloudEvent of `type` about `resource` (data: a snapshot of it). */
  async emitEvent(ctx: ReconcileContext, type: string, resource: Resource): Promise<void> {
    assertEventType(type, "emitEvent type");
    assertKind(resource.kind, "emitEvent resource.kind");
    assertUid(resource.uid, "emitEvent resource.uid");
    internalsOf(ctx).effects.recordEvent({ type, kind: resource.kind, uid: resource.uid, data: resource });
  }

  /**
   * Sets a condition on `resource.status.conditions`; `lastTransitionTime`
   * changes only when the status does. Written by the next updateStatus — or,
   * if the reconcile ends without one, on its own.
   */
  setCondition(resource: R, type: string, status: ConditionStatus, reason: string, message: string): void {
    const generation = resource.metadata?.generation;
    setCondition(conditionsOf(resource), type, status, reason, message, generation === undefined ? {} : { observedGeneration: generation });
    recorderOfResource(resource)?.recordConditionsTouched();
  }

  /**
   * Adds finalizer `name` to the resource (written with its status when the
   * reconcile ends). While a resource has finalizers, deleting it only marks it
   * (`metadata.deletedAt`) until each finalizer's owner has cleaned up.
   * Returns false when it was there already.
   */
  addFinalizer(resource: R, name: string): boolean {
    assertFinalizer(name);
    const finalizers = (resource.metadata ??= {}).finalizers ?? [];
    if (finalizers.includes(name)) return false;
    resource.metadata.finalizers = [...finalizers, name];
    recorderOfResource(resource)?.recordFinalizers(resource.metadata.finalizers);
    return true;
  }

  /**
   * Removes finalizer `name` (after cleaning up). When it was the last one of a
   * resource being deleted, the controller deletes the resource. Returns false
   * when it was not there.
   */
  removeFinalizer(resource: R, name: string): boolean {
    const finalizers = resource.metadata?.finalizers ?? [];
    if (!finalizers.includes(name)) return false;
    resource.metadata!.finalizers = finalizers.filter((f) => f !== name);
    recorderOfResource(resource)?.recordFinalizers(resource.metadata!.finalizers);
    return true;
  }

  hasFinalizer(resource: Resource, name: string): boolean {
    return resource.metadata?.finalizers?.includes(name) ?? false;
  }

  /** True once deletion was asked for and finalizers hold the resource. */
  isBeingDeleted(resource: Resource): boolean {
    return resource.metadata?.deletedAt !== undefined;
  }

  /** Reconciles another resource (a dependent) once this reconcile is done. */
  enqueue(ctx: ReconcileContext, request: ReconcileRequest): void {
    this.enqueueAfter(ctx, request, 0);
  }

  enqueueAfter(ctx: ReconcileContext, request: ReconcileRequest, delayMs: number): void {
    assertKind(request.resourceKind, "request.resourceKind");
    assertUid(request.resourceUid, "request.resourceUid");
    if (!Number.isFinite(delayMs) || delayMs < 0) {
      throw new RangeError(`enqueueAfter: delay must be a finite number of ms >= 0, got ${delayMs}`);
    }
    const enqueue = { kind: request.resourceKind, uid: request.resourceUid, afterMs: delayMs };
    internalsOf(ctx).effects.recordEnqueue(request.reason === undefined ? enqueue : { ...enqueue, reason: request.reason });
  }

  private assertOwnResource(ctx: ReconcileContext, resource: Resource, method: string): void {
    const { resourceKind, resourceUid } = ctx.request;
    if (resource.kind !== resourceKind || resource.uid !== resourceUid) {
      throw new TypeError(
        `${method}: this reconcile is for ${resourceKind}/${resourceUid}, not ${resource.kind}/${resource.uid}; write other resources through this.client`,
      );
    }
  }
}
