import type { Condition, ConditionStatus } from "../storage/resource.js";

// The types live with Resource, whose status holds conditions.
export type { Condition, ConditionStatus };

export interface SetConditionOptions {
  observedGeneration?: number;
  now?: Date;
}

const STATUSES: readonly string[] = ["True", "False", "Unknown"];

/**
 * Sets or replaces the condition of `type` in `conditions` (in place) and
 * returns it. `lastTransitionTime` moves only when `status` changes, so a
 * periodic reconcile that re-asserts the same state leaves the status
 * byte-for-byte unchanged and costs no write.
 */
export function setCondition(
  conditions: Condition[],
  type: string,
  status: ConditionStatus,
  reason: string,
  message: string,
  options: SetConditionOptions = {},
): Condition {
  if (typeof type !== "string" || type.length === 0) throw new TypeError("condition type must be a non-empty string");
  if (!STATUSES.includes(status)) {
    throw new TypeError(`condition ${type}: status must be "True", "False" or "Unknown", got ${JSON.stringify(status)}`);
  }
  const index = conditions.findIndex((c) => c.type === type);
  const previous = index >= 0 ? conditions[index] : undefined;
  const next: Condition = {
    type,
    status,
    reason,
    message,
    lastTransitionTime:
      previous && previous.status === status ? previous.lastTransitionTime : (options.now ?? new Date()).toISOString(),
  };
  if (options.observedGeneration !== undefined) next.observedGeneration = options.observedGeneration;
  if (index >= 0) conditions[index] = next;
  else conditions.push(next);
  return next;
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === "True";
}

/**
 * The conditions array of a resource's status, created when missing. A status
 * that is not an object cannot hold conditions: that is the reconciler's bug,
 * reported by name.
 */
export function conditionsOf(resource: { kind?: string; uid?: string; status?: unknown }): Condition[] {
  if (resource.status === undefined || resource.status === null) resource.status = {};
  const status = resource.status as { conditions?: unknown };
  if (typeof status !== "object") {
    throw new TypeError(`${resource.kind}/${resource.uid}: status is a ${typeof status}, so it cannot hold conditions`);
  }
  if (status.conditions === undefined) status.conditions = [];
  if (!Array.isArray(status.conditions)) {
    throw new TypeError(`${resource.kind}/${resource.uid}: status.conditions is not an array`);
  }
  return status.conditions as Condition[];
}
