import { randomUUID } from "node:crypto";
import * as v from "valibot";
import { CloudEventTimeSchema, extensionNameProblem } from "../codec/cloud-event-schema.js";
import { ValidationError } from "../codec/errors.js";
import { assertEventType, assertKind, assertUid } from "../codec/names.js";
import type { CloudEvent } from "./cloud-event.js";

export interface ResourceEventOptions {
  /** CloudEvents `source`; default `"converge"`. */
  source?: string;
  /** Default `<kind>/<uid>`. */
  subject?: string;
  /** Default a random UUID. */
  id?: string;
  /** Default now; a string must be RFC 3339 (`2024-01-31T12:00:00Z`). */
  time?: Date | string;
  /** Extra extension attributes (lower-case alphanumeric names, at most 20 characters). */
  extensions?: Record<string, string>;
}

/**
 * A CloudEvents 1.0 event about the resource `kind/uid` (Fabrica's
 * `NewResourceEvent`). Throws `ValidationError` naming the bad argument.
 */
export function newResourceEvent<T>(
  type: string,
  kind: string,
  uid: string,
  data: T,
  options: ResourceEventOptions = {},
): CloudEvent<T> {
  assertEventType(type, "type");
  assertKind(kind, "kind");
  assertUid(uid, "uid");
  const event: CloudEvent<T> = {
    specversion: "1.0",
    id: options.id === undefined ? randomUUID() : nonEmpty(options.id, "options.id"),
    source: options.source === undefined ? "converge" : nonEmpty(options.source, "options.source"),
    type,
    time: timeOf(options.time),
    subject: options.subject === undefined ? `${kind}/${uid}` : nonEmpty(options.subject, "options.subject"),
    datacontenttype: "application/json",
    data,
    resourcekind: kind,
    resourceuid: uid,
  };
  const extensions = options.extensions;
  if (extensions !== undefined) {
    if (extensions === null || typeof extensions !== "object") {
      throw new ValidationError("options.extensions", "must be an object of string values");
    }
    for (const name of Object.keys(extensions)) {
      const problem = extensionNameProblem(name);
      if (problem !== undefined) throw new ValidationError(`options.extensions.${name}`, problem);
      const value = extensions[name];
      if (typeof value !== "string") {
        throw new ValidationError(`options.extensions.${name}`, `must be a string, got ${typeof value}`);
      }
      event[name] = value;
    }
  }
  return event;
}

function nonEmpty(value: unknown, path: string): string {
  if (typeof value !== "string" || value.length === 0) {
    throw new ValidationError(path, "must be a non-empty string");
  }
  return value;
}

function timeOf(time: Date | string | undefined): string {
  if (time === undefined) return new Date().toISOString();
  if (time instanceof Date) {
    if (Number.isNaN(time.getTime())) throw new ValidationError("options.time", "is an invalid Date");
    return time.toISOString();
  }
  if (typeof time === "string") {
    const result = v.safeParse(CloudEventTimeSchema, time);
    if (!result.success) throw new ValidationError("options.time", `${JSON.stringify(time)} ${result.issues[0].message}`);
    return time;
  }
  throw new ValidationError("options.time", "must be a Date or an RFC 3339 timestamp string");
}
