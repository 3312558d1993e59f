export interface ResourceMetadata {
  /** Bumped by the client on every spec change; conditions record the one they saw. */
  generation?: number;
  /** The storage revision this copy was read at; set by storage on load. */
  revision?: number;
  /** The owner's uid: when the owner is deleted, this resource is deleted too (garbage collection). */
  ownerUid?: string;
  /** The owner's kind; lets a relist find orphans whose owner vanished while the controller was down. */
  ownerKind?: string;
  labels?: Record<string, string>;
  finalizers?: string[];
  /** ISO time; set while finalizers still hold a deleted resource. */
  deletedAt?: string;
  [key: string]: unknown;
}

export type ConditionStatus = "True" | "False" | "Unknown";

/** A Kubernetes-style condition: the latest observation of one aspect of a resource. */
export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  /** ISO time of the last change of `status` (not of reason or message). */
  lastTransitionTime: string;
  /** The `metadata.generation` the reconcile saw when it set this condition. */
  observedGeneration?: number;
}

/**
 * A status as stored: the reconciler's own fields and the conditions that
 * `setCondition` keeps beside them (an object status only; `unknown` stays `unknown`).
 */
export type WithConditions<Status> = Status extends object ? Status & { conditions?: Condition[] } : Status;

/** A declared object: `spec` is desired state, `status` is observed state. */
export interface Resource<Spec = unknown, Status = unknown> {
  kind: string;
  uid: string;
  metadata?: ResourceMetadata;
  spec: Spec;
  status?: WithConditions<Status>;
}
