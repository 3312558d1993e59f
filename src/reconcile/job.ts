import type { Resource } from "../storage/resource.js";

/** A key being reconciled, with the resource as it was read (never handed to user code). */
export interface Job {
  readonly h: number;
  readonly kind: string;
  readonly uid: string;
  readonly loaded: Resource;
}
