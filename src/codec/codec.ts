import { decode, encode } from "@msgpack/msgpack";
import { ValidationError } from "./errors.js";

/** Turns values into bytes for the wire or a store, and back. */
export interface Codec {
  /** MIME type written next to the bytes (a NATS header), e.g. `application/msgpack`. */
  readonly contentType: string;
  encode(value: unknown): Uint8Array;
  /** Throws ValidationError (path `what`) for bytes that are not a valid encoding. */
  decode(bytes: Uint8Array, what?: string): unknown;
}

/**
 * msgpack: compact and fast. `undefined` object fields are left out (not turned
 * into null), so a value decodes to what JSON would give.
 */
export const msgpackCodec: Codec = {
  contentType: "application/msgpack",
  encode: (value) => encode(value, { ignoreUndefined: true }),
  decode(bytes, what = "value") {
    try {
      return decode(bytes);
    } catch (error) {
      throw new ValidationError(what, `not valid msgpack (${(error as Error).message})`, { cause: error });
    }
  },
};

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** JSON, for consumers in other languages and for reading with the nats CLI. */
export const jsonCodec: Codec = {
  contentType: "application/json",
  encode: (value) => encoder.encode(JSON.stringify(value)),
  decode(bytes, what = "value") {
    try {
      return JSON.parse(decoder.decode(bytes));
    } catch (error) {
      throw new ValidationError(what, `not valid UTF-8 JSON (${(error as Error).message})`, { cause: error });
    }
  },
};

/** The codec named by `format`. */
export function codecFor(format: "msgpack" | "json"): Codec {
  if (format === "msgpack") return msgpackCodec;
  if (format === "json") return jsonCodec;
  throw new ValidationError("format", `must be "msgpack" or "json", got ${JSON.stringify(format)}`);
}
