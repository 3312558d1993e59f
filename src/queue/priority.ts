import { InvalidArgumentError, describe } from "./errors.js";

/** The priority of a plain add. Higher numbers are more urgent. */
export const DEFAULT_PRIORITY = 0;

/** For bulk, non-urgent work: the initial list and periodic resyncs. */
export const LOW_PRIORITY = -100;

/** For work someone is waiting on. */
export const HIGH_PRIORITY = 100;

/** Priorities are integers in -MAX_PRIORITY..MAX_PRIORITY. */
export const MAX_PRIORITY = 1_000_000;

/** Options of the adds that take a priority (`add`, `addAfter`, `addRateLimited`). */
export interface AddOptions {
  /** Higher is served first; default `DEFAULT_PRIORITY` (0). See `HandleQueue` for aging. */
  priority?: number;
}

/** Throws unless `p` is an integer in -MAX_PRIORITY..MAX_PRIORITY. */
export function checkPriority(where: string, p: number): void {
  if (typeof p !== "number" || !Number.isInteger(p) || p < -MAX_PRIORITY || p > MAX_PRIORITY) {
    throw new InvalidArgumentError(where, `priority must be an integer in -${MAX_PRIORITY}..${MAX_PRIORITY}, got ${describe(p)}`);
  }
}

/** The priority in `options` (validated), DEFAULT_PRIORITY when there is none. */
export function priorityOption(where: string, options: AddOptions | undefined): number {
  if (options === undefined) return DEFAULT_PRIORITY;
  if (options === null || typeof options !== "object") {
    throw new InvalidArgumentError(where, `options must be an object, got ${describe(options)}`);
  }
  const p = options.priority;
  if (p === undefined) return DEFAULT_PRIORITY;
  checkPriority(where, p);
  return p;
}
