import { Decoder, Encoder } from "@msgpack/msgpack";
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
// One encoder and decoder for the process: msgpack's encode() builds an
// Encoder, with a fresh 2 KiB buffer, per call. Both are re-entrant (they
// clone themselves when called from inside a call).
const LARGE = 1 << 16;
let sharedEncoder = new Encoder({ ignoreUndefined: true });
const sharedDecoder = new Decoder();

export const msgpackCodec: Codec = {
  contentType: "application/msgpack",
  encode(value) {
    const bytes = sharedEncoder.encode(value);
    // The encoder's buffer grows to the largest value; a large one is not kept.
    if (bytes.length > LARGE) sharedEncoder = new Encoder({ ignoreUndefined: true });
    return bytes;
  },
  decode(bytes, what = "value") {
    try {
      return sharedDecoder.decode(bytes);
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
