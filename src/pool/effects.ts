import { deepCopy } from "../codec/deep-copy.js";
import type { Effects, EmittedEvent, RequestedEnqueue } from "./protocol.js";

/**
 * Collects what one reconcile asks for. The reconcile never writes anything
 * itself: the main thread applies these after it returns, in one place, with
 * compare-and-swap, whichever thread the reconcile ran on.
 */
export class EffectRecorder {
  private status: { value: unknown } | undefined;
  private conditionsTouched = false;
  private finalizers: string[] | undefined;
  private events: EmittedEvent[] | undefined;
  private enqueues: RequestedEnqueue[] | undefined;

  /** Snapshots now: later mutations of the object are not written. */
  recordStatus(status: unknown): void {
    this.status = { value: status === undefined ? undefined : deepCopy(status) };
    this.conditionsTouched = false;
  }

  recordConditionsTouched(): void {
    this.conditionsTouched = true;
  }

  /** The resource's finalizers after an add or remove; written with the status, in one CAS. */
  recordFinalizers(finalizers: readonly string[]): void {
    this.finalizers = [...finalizers];
  }

  recordEvent(event: EmittedEvent): void {
    (this.events ??= []).push({ ...event, data: deepCopy(event.data) });
  }

  recordEnqueue(enqueue: RequestedEnqueue): void {
    (this.enqueues ??= []).push(enqueue);
  }

  /** `resource` is the object the reconcile was given, read for touched conditions. */
  toEffects(resource: { status?: unknown }): Effects | undefined {
    let effects: Effects | undefined;
    if (this.status) (effects ??= {}).status = this.status;
    if (this.conditionsTouched) {
      const conditions = (resource.status as { conditions?: unknown[] } | undefined)?.conditions;
      if (Array.isArray(conditions)) (effects ??= {}).conditions = deepCopy(conditions);
    }
    if (this.finalizers) (effects ??= {}).finalizers = this.finalizers;
    if (this.events) (effects ??= {}).events = this.events;
    if (this.enqueues) (effects ??= {}).enqueues = this.enqueues;
    return effects;
  }
}
