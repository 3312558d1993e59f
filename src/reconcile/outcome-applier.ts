import { dequal } from "dequal";
import { deepCopy } from "../codec/deep-copy.js";
import type { EventBus } from "../events/event-bus.js";
import { newResourceEvent } from "../events/resource-event.js";
import type { ItemOutcome, WireError } from "../pool/protocol.js";
import { toWireError } from "../pool/protocol.js";
import { ConflictError } from "../storage/errors.js";
import type { Resource } from "../storage/resource.js";
import type { Storage } from "../storage/storage.js";
import { conditionsOf, setCondition, type Condition } from "./conditions.js";
import type { ControllerQueue } from "./controller-queue.js";
import type { ControllerCounters } from "./controller-stats.js";
import type { Informer } from "./informer.js";
import type { Job } from "./job.js";
import type { Logger } from "./logger.js";
import type { ResultPolicy } from "./result-policy.js";

/** Set by the controller: False after a TerminalError, True again after the next success. */
export const RECONCILED = "Reconciled";
/** Set by the controller for kinds registered with a schema. */
export const VALID = "Valid";

export interface OutcomeApplierOptions {
  storage: Storage;
  bus: EventBus;
  informer: Informer;
  queue: ControllerQueue;
  policy: ResultPolicy;
  counters: ControllerCounters;
  logger: Logger;
  eventSource: string;
  /** Whether `kind` is registered and validated by a schema. */
  kindInfo(kind: string): { validated: boolean } | undefined;
  /** Enqueues a key a reconcile asked for. */
  enqueue(kind: string, uid: string, reason: string, afterMs: number): void;
}

/**
 * Applies what a reconcile handed back, on the main thread, in one place for
 * both isolations: the status/finalizer write (compare-and-swap on the
 * revision read), emitted events, requested enqueues; then the result policy.
 */
export class OutcomeApplier {
  readonly #o: OutcomeApplierOptions;

  constructor(options: OutcomeApplierOptions) {
    this.#o = options;
  }

  /** Applies one reconcile's effects and settles its key. Never throws; the key is still processing after. */
  async apply(job: Job, outcome: ItemOutcome): Promise<void> {
    const { h } = job;
    const o = this.#o;
    let error: WireError | undefined = outcome.error;
    let conflict = false;
    try {
      o.counters.reconciles++;
      const next = this.#nextResource(job, outcome);
      if (next !== undefined) {
        const written = await this.write(job, next);
        if (written === "conflict") conflict = true;
        else if (written instanceof Error) error ??= toWireError(written);
      }
      const effects = outcome.effects;
      if (effects?.events) {
        const key = o.queue.keyOf(h);
        for (const event of effects.events) {
          try {
            const emitted = newResourceEvent(event.type, event.kind, event.uid, event.data, { source: o.eventSource });
            emitted.reconcilekey = key;
            await o.bus.publish(emitted);
            o.counters.eventsEmitted++;
            o.logger.debug(`Emitted event ${event.type} for ${event.kind}/${event.uid}`);
          } catch (publishError) {
            o.logger.error({ key, type: event.type, err: publishError }, "publishing an event failed; the reconcile will be retried");
            error ??= toWireError(publishError);
          }
        }
      }
      if (effects?.enqueues) {
        for (const enqueue of effects.enqueues) {
          if (o.kindInfo(enqueue.kind) === undefined) {
            o.logger.warn({ key: o.queue.keyOf(h), kind: enqueue.kind, uid: enqueue.uid }, "enqueue ignored: no reconciler for that kind");
            continue;
          }
          o.enqueue(enqueue.kind, enqueue.uid, enqueue.reason ?? `enqueued by ${o.queue.keyOf(h)}`, enqueue.afterMs);
        }
      }
      o.policy.settle(h, outcome, error, conflict);
    } catch (unexpected) {
      o.logger.error({ key: o.queue.keyOf(h), err: unexpected }, "applying the reconcile's outcome failed; retrying with backoff");
      o.queue.retry(h);
    }
  }

  /** An invalid resource: condition Valid=False, no reconcile, no retry until it changes. */
  async applyInvalid(job: Job, problem: string): Promise<void> {
    const o = this.#o;
    const key = o.queue.keyOf(job.h);
    try {
      o.counters.invalid++;
      o.queue.forget(job.h);
      const status = withCondition(job.loaded.status, job, VALID, "False", "InvalidResource", problem);
      if (dequal(status, job.loaded.status)) return;
      o.logger.warn({ key, problem }, "invalid resource: not reconciled until it changes");
      if ((await this.write(job, { ...job.loaded, status })) === "conflict") o.queue.requeue(job.h);
    } catch (error) {
      o.logger.error({ key, err: error }, "recording an invalid resource's condition failed; retrying with backoff");
      o.queue.retry(job.h);
    }
  }

  /**
   * What the reconcile's outcome makes of the resource: a new value (status,
   * conditions, finalizers), "delete" (its last finalizer went while it is
   * being deleted), or undefined when nothing changes — an equal status is
   * never written, so periodic resyncs cost no writes.
   */
  #nextResource(job: Job, outcome: ItemOutcome): Resource | "delete" | undefined {
    const { loaded } = job;
    const finalizers = outcome.effects?.finalizers;
    const remaining = finalizers ?? loaded.metadata?.finalizers ?? [];
    if (loaded.metadata?.deletedAt !== undefined && remaining.length === 0) return "delete";
    const status = this.#nextStatus(job, outcome);
    const statusChanged = status !== undefined && !dequal(status.value, loaded.status);
    const finalizersChanged = finalizers !== undefined && !dequal(finalizers, loaded.metadata?.finalizers ?? []);
    if (status !== undefined && !statusChanged) this.#o.counters.statusUnchanged++;
    if (!statusChanged && !finalizersChanged) return undefined;
    const next: Resource = { ...loaded };
    if (statusChanged) {
      if (status.value === undefined) delete next.status;
      else next.status = status.value;
    }
    if (finalizersChanged) next.metadata = { ...loaded.metadata, finalizers };
    return next;
  }

  /** The status to write, or undefined when nothing asks for one. */
  #nextStatus(job: Job, outcome: ItemOutcome): { value: unknown } | undefined {
    const effects = outcome.effects;
    const loaded = job.loaded.status;
    const validated = this.#o.kindInfo(job.kind)?.validated === true;
    let value: unknown;
    if (effects?.status) value = effects.status.value;
    else if (effects?.conditions) value = { ...(isObject(loaded) ? loaded : {}), conditions: effects.conditions };
    else if (outcome.error?.terminal || hasFalseCondition(loaded, RECONCILED) || (validated && hasFalseCondition(loaded, VALID))) {
      value = loaded === undefined ? undefined : deepCopy(loaded);
    } else return undefined;
    if (outcome.error?.terminal) {
      value = withCondition(value, job, RECONCILED, "False", outcome.error.reason ?? "TerminalError", outcome.error.message);
    } else if (!outcome.error && hasFalseCondition(value, RECONCILED)) {
      value = withCondition(value, job, RECONCILED, "True", "Succeeded", "reconciled");
    }
    // Only a valid resource gets this far: a Valid=False from before is over.
    if (validated && hasFalseCondition(value, VALID)) value = withCondition(value, job, VALID, "True", "Valid", "the resource matches its schema");
    return { value };
  }

  /** Writes `next` with compare-and-swap on the revision the reconcile read. */
  async write(job: Job, next: Resource | "delete"): Promise<"written" | "conflict" | Error> {
    const { h, kind, uid, loaded } = job;
    const o = this.#o;
    const expectedRevision = loaded.metadata?.revision ?? 0;
    let written: Resource | undefined;
    o.informer.beginWrite(h);
    try {
      if (next === "delete") {
        await o.storage.delete(kind, uid, { expectedRevision });
        o.counters.deletes++;
      } else {
        const revision = await o.storage.save(kind, uid, next, { expectedRevision });
        // `next` is ours (built by #nextResource; storage keeps a copy): it becomes the cached value.
        next.metadata = { ...next.metadata, revision };
        written = next;
        o.counters.statusWrites++;
      }
      return "written";
    } catch (error) {
      if (error instanceof ConflictError) {
        o.counters.conflicts++;
        return "conflict";
      }
      o.logger.error({ kind, uid, err: error }, "writing the reconcile's result failed; retrying with backoff");
      return error instanceof Error ? error : new Error(String(error));
    } finally {
      // Someone else's change seen during the write is a real change: reconcile again.
      if (o.informer.endWrite(h, written)) o.queue.requeue(h);
    }
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function hasFalseCondition(status: unknown, type: string): boolean {
  const conditions = isObject(status) ? status.conditions : undefined;
  return Array.isArray(conditions) && conditions.some((c: Condition) => c?.type === type && c.status === "False");
}

/** `status` (copied) with condition `type` set; the loaded resource is never mutated. */
function withCondition(status: unknown, job: Job, type: string, value: "True" | "False", reason: string, message: string): unknown {
  const holder = { kind: job.kind, uid: job.uid, status: isObject(status) ? { ...status } : {} };
  if (Array.isArray(holder.status.conditions)) holder.status.conditions = [...holder.status.conditions];
  const generation = job.loaded.metadata?.generation;
  setCondition(conditionsOf(holder), type, value, reason, message, generation === undefined ? {} : { observedGeneration: generation });
  return holder.status;
}
