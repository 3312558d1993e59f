/**
 * A CloudEvents 1.0 event (structured mode). `resourcekind` and `resourceuid`
 * are the extensions converge adds for events about a resource; `reconcilekey`
 * marks an event emitted by the reconcile of `kind/uid`, so the controller does
 * not trigger that same resource again.
 */
export interface CloudEvent<T = unknown> {
  specversion: "1.0";
  id: string;
  source: string;
  type: string;
  time?: string;
  subject?: string;
  datacontenttype?: string;
  data?: T;
  resourcekind?: string;
  resourceuid?: string;
  reconcilekey?: string;
  [extension: string]: unknown;
}
