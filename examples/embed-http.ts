// The web-standard HTTP plumbing of the embedded service (examples/embed-app.ts):
// errors as answers, JSON bodies in and out, query and header parsing.
import { StorageClosedError, ValidationError } from "../src/index.js";

/** An answer with a status, decided while handling a request. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly path?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export async function readJsonBody(request: Request, maxBytes: number): Promise<unknown> {
  // Parsed as JSON whatever the content-type says (curl -d sends form-urlencoded).
  const declared = Number(request.headers.get("content-length") ?? 0);
  if (declared > maxBytes) throw new HttpError(413, "ERR_TOO_LARGE", `body is ${declared} bytes; at most ${maxBytes} are accepted`);
  // Read with a running count: a body without content-length is cut off at the limit too.
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (request.body) {
    const reader = request.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel();
        throw new HttpError(413, "ERR_TOO_LARGE", `body exceeds ${maxBytes} bytes`);
      }
      chunks.push(value);
    }
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  const text = new TextDecoder().decode(bytes);
  if (text.trim() === "") throw new ValidationError("body", 'is empty; send JSON like {"spec": {…}}');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ValidationError("body", `is not valid JSON: ${(error as Error).message}`);
  }
}

export function only(request: Request, method: string, answer: () => Response): Response {
  if (request.method !== method && !(method === "GET" && request.method === "HEAD")) {
    throw new HttpError(405, "ERR_METHOD", `${request.method} is not allowed here`, undefined, { allow: method });
  }
  return answer();
}

export function decodeSegment(segment: string, path: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new ValidationError(path, `${JSON.stringify(segment)} is not valid percent-encoding`);
  }
}

export function nonNegativeInteger(value: string | null, path: string): number {
  const n = Number(value);
  if (value === null || !/^\d+$/.test(value) || !Number.isSafeInteger(n)) {
    throw new ValidationError(path, `${JSON.stringify(value)} must be a non-negative integer`);
  }
  return n;
}

/** `?selector=zone=eu,tier=edge` → `{ zone: "eu", tier: "edge" }`; every label must match. */
export function parseSelector(value: string | null): Record<string, string> {
  if (value === null || value === "") return {};
  const selector: Record<string, string> = {};
  for (const pair of value.split(",")) {
    const match = /^([A-Za-z0-9_./-]+)=([^=]*)$/.exec(pair);
    if (!match) throw new ValidationError("query.selector", `${JSON.stringify(value)} must be key=value (comma-separated for several)`);
    selector[match[1]] = match[2];
  }
  return selector;
}

/** `"12"`, `12` or `W/"12"` -> 12; absent -> undefined. */
export function parseIfMatch(header: string | null): number | undefined {
  if (header === null) return undefined;
  const match = /^\s*(?:W\/)?"?(\d+)"?\s*$/.exec(header);
  if (!match) throw new ValidationError("if-match", `${JSON.stringify(header)} must be a revision such as "12"`);
  return Number(match[1]);
}

export function etag(revision: number): Record<string, string> {
  return { etag: `"${revision}"` };
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers },
  });
}

export function errorResponse(error: unknown): Response {
  if (error instanceof HttpError) {
    return json(error.status, { error: error.code, message: error.message, ...(error.path ? { path: error.path } : {}) }, error.headers);
  }
  if (error instanceof ValidationError) return json(400, { error: error.code, message: error.message, path: error.path });
  if (error instanceof StorageClosedError) return json(503, { error: error.code, message: "the service is shutting down" });
  return json(500, { error: "ERR_INTERNAL", message: String((error as Error)?.message ?? error) });
}
