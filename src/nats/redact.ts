// The one place secrets in connection URLs are hidden before anything is shown.

/**
 * Userinfo of a URL or a `user:password@host` without a scheme: the run of
 * characters before the last `@` of an address, after `//` or wherever an
 * address can start (text start, space, comma, quote, bracket, `=`). Greedy up
 * to that last `@`, so a password holding an `@` is hidden whole.
 */
const USERINFO = /(^|\/\/|[\s,;'"`(<[{=])[^\s,;'"`/()<>[\]{}]*@/g;

/**
 * `text` with the user, password or token of every server address in it
 * replaced by `***`: `nats://user:secret@host:4222` → `nats://***@host:4222`,
 * `user:secret@host` → `***@host`, `token@host` → `***@host`. For messages,
 * flags echoed back, log lines; an address without credentials is unchanged.
 */
export function redactUrls(text: string): string {
  return text.replace(USERINFO, "$1***@");
}

/** Properties of errors that may carry what was passed in: Node's `Invalid URL` keeps it as `input`. */
const ECHOED = ["input", "url", "servers", "server"] as const;

/**
 * Hides secrets in `error` before it leaves converge: its message and stack,
 * the properties that echo an input (`input`, as Node's `TypeError: Invalid
 * URL` has), and the same in its `cause` chain (and an AggregateError's
 * errors). Changes the error in place and returns it, so its class and code
 * stay what callers compare; anything not an object is returned as it is.
 */
export function redactError<T>(error: T): T {
  const seen = new Set<object>();
  const visit = (e: unknown, depth: number): void => {
    if (typeof e !== "object" || e === null || seen.has(e) || depth > 8) return;
    seen.add(e);
    const record = e as Record<string, unknown>;
    for (const key of ["message", "stack", ...ECHOED]) {
      const value = record[key];
      if (typeof value === "string") setQuietly(record, key, redactUrls(value));
      else if (Array.isArray(value) && key !== "message" && key !== "stack") {
        setQuietly(record, key, value.map((item) => (typeof item === "string" ? redactUrls(item) : item)));
      }
    }
    visit(record.cause, depth + 1);
    if (Array.isArray(record.errors)) for (const inner of record.errors) visit(inner, depth + 1);
  };
  visit(error, 0);
  return error;
}

function setQuietly(record: Record<string, unknown>, key: string, value: unknown): void {
  if (record[key] === value) return;
  try {
    // Own data property, same enumerability as a plain assignment would give.
    Object.defineProperty(record, key, { value, writable: true, configurable: true, enumerable: Object.prototype.propertyIsEnumerable.call(record, key) });
  } catch {
    // A frozen error cannot be changed; nothing more can be done here.
  }
}
