import { jsonCodec, msgpackCodec, type Codec } from "./codec.js";
import { parseCloudEvent, type ParsedCloudEvent } from "./cloud-event-schema.js";
import { ValidationError } from "./errors.js";

/** How a structured CloudEvent is written on the wire. */
export type CloudEventFormat = "msgpack" | "json";

export const CLOUDEVENTS_MSGPACK_CONTENT_TYPE = "application/cloudevents+msgpack";
export const CLOUDEVENTS_JSON_CONTENT_TYPE = "application/cloudevents+json";

/** The shape `encode` takes: any structured CloudEvent (`CloudEvent` of src/events fits). */
export interface EncodableCloudEvent {
  readonly specversion: "1.0";
  readonly id: string;
  readonly source: string;
  readonly type: string;
  readonly data?: unknown;
  readonly [attribute: string]: unknown;
}

/**
 * Encodes a whole CloudEvent (structured content mode: attributes and data in
 * one body) and decodes one back, validated.
 */
export interface CloudEventCodec {
  readonly format: CloudEventFormat;
  /** The structured-mode media type, e.g. `application/cloudevents+msgpack`. */
  readonly contentType: string;
  /**
   * Expects a valid event (`parseCloudEvent` checks one; this does not, to
   * not check twice). Throws ValidationError if it cannot be encoded.
   */
  encode(event: EncodableCloudEvent): Uint8Array;
  /** Throws ValidationError (path `what`, or `event.<attribute>`) for bytes that are not a valid CloudEvent. */
  decode(bytes: Uint8Array, what?: string): ParsedCloudEvent;
}

/** msgpack: binary `data` travels as msgpack bin, so bytes round-trip as bytes. */
export const msgpackCloudEventCodec: CloudEventCodec = {
  format: "msgpack",
  contentType: CLOUDEVENTS_MSGPACK_CONTENT_TYPE,
  encode: (event) => encodeWith(msgpackCodec, event, "msgpack"),
  decode: (bytes, what = "message") => parseCloudEvent(msgpackCodec.decode(bytes, what)),
};

/**
 * JSON (the CloudEvents JSON event format): binary `data` is written as
 * `data_base64`, as the format requires, and read back into `data` bytes —
 * what the CloudEvents SDKs do — so a JS event round-trips either way.
 */
export const jsonCloudEventCodec: CloudEventCodec = {
  format: "json",
  contentType: CLOUDEVENTS_JSON_CONTENT_TYPE,
  encode(event) {
    if (event.data instanceof Uint8Array) {
      const { data, ...rest } = event;
      return encodeWith(jsonCodec, { ...rest, data_base64: toBase64(data) }, "JSON");
    }
    return encodeWith(jsonCodec, event, "JSON");
  },
  decode(bytes, what = "message") {
    const event = parseCloudEvent(jsonCodec.decode(bytes, what));
    if (event.data_base64 === undefined) return event;
    const { data_base64, ...rest } = event;
    return { ...rest, data: fromBase64(data_base64) } as ParsedCloudEvent;
  },
};

/** The codec for `format`; ValidationError (path `format`) for anything else. */
export function cloudEventCodec(format: CloudEventFormat): CloudEventCodec {
  if (format === "msgpack") return msgpackCloudEventCodec;
  if (format === "json") return jsonCloudEventCodec;
  throw new ValidationError("format", `must be "msgpack" or "json", got ${JSON.stringify(format)}`);
}

/**
 * The codec a `content-type` value names (parameters such as `; charset=utf-8`
 * and letter case ignored), or undefined for a type this codec set cannot read.
 */
export function cloudEventCodecForContentType(contentType: string): CloudEventCodec | undefined {
  const semicolon = contentType.indexOf(";");
  const mediaType = (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
  if (mediaType === CLOUDEVENTS_MSGPACK_CONTENT_TYPE) return msgpackCloudEventCodec;
  if (mediaType === CLOUDEVENTS_JSON_CONTENT_TYPE) return jsonCloudEventCodec;
  return undefined;
}

function encodeWith(codec: Codec, value: unknown, name: string): Uint8Array {
  try {
    return codec.encode(value);
  } catch (error) {
    // BigInts, cycles and the like: name the format so the caller knows which limit hit.
    throw new ValidationError("event", `cannot be encoded as ${name} (${(error as Error).message})`, { cause: error });
  }
}

// btoa/atob exist on Node, Bun and Deno alike (Buffer is Node's); chunked so
// a large payload does not overflow the argument list of fromCharCode.
function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array {
  let binary: string;
  try {
    binary = atob(text);
  } catch (error) {
    throw new ValidationError("event.data_base64", "is not valid base64", { cause: error });
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
