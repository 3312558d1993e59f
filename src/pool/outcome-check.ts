import { ValidationError } from "../codec/errors.js";
import { findUnsafe } from "../codec/resource-schema.js";
import { toWireError, type ItemOutcome } from "./protocol.js";

/**
 * The outcome to send instead of one that cannot be cloned to the main
 * thread: the same key fails, with the error inline isolation gives when it
 * tries to store the same value (`value.status.cb: (function) cannot be
 * stored…`), and nothing it recorded is applied. Before this, one such
 * status killed the whole worker thread and every reconcile on it.
 */
export function unsendableOutcome(outcome: ItemOutcome, cloneError: unknown): ItemOutcome {
  return { h: outcome.h, ms: outcome.ms, error: toWireError(explain(outcome, cloneError)) };
}

function explain(outcome: ItemOutcome, cloneError: unknown): ValidationError {
  const effects = outcome.effects;
  const places: [string, unknown][] = [];
  if (effects?.status) places.push(["value.status", effects.status.value]);
  if (effects?.conditions) places.push(["value.status.conditions", effects.conditions]);
  if (effects?.finalizers) places.push(["value.metadata.finalizers", effects.finalizers]);
  effects?.events?.forEach((event, i) => places.push([`events[${i}].data`, event.data]));
  for (const [path, value] of places) {
    const unsafe = findUnsafe(value);
    if (unsafe) {
      const at = unsafe.path.length === 0 ? path : `${path}.${unsafe.path.join(".")}`;
      return new ValidationError(at, unsafe.message);
    }
  }
  const why = cloneError instanceof Error ? cloneError.message : String(cloneError);
  return new ValidationError("outcome", `cannot be sent to the main thread: ${why}`, { cause: cloneError });
}
