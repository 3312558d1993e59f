// What a lease or member key holds: who wrote it. JSON, so `nats kv get` shows it.

export interface LeaseRecord {
  /** The holder's identity (for people and stats). */
  readonly holder: string;
  /** The holder process's random instance id: tells a restarted process with the same identity from the old one. */
  readonly instance: string;
  /** KvSharding's partition count, in member and lease keys: processes must agree on it or keys map to different partitions. */
  readonly partitions?: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeLeaseRecord(record: LeaseRecord): Uint8Array {
  return encoder.encode(JSON.stringify({ holder: record.holder, instance: record.instance, partitions: record.partitions }));
}

/** The record in `bytes`; a foreign or corrupt value reads as held by an unknown process (it still expires by the clock rule). */
export function decodeLeaseRecord(bytes: Uint8Array): LeaseRecord {
  try {
    const value = JSON.parse(decoder.decode(bytes)) as Partial<LeaseRecord> | null;
    if (value && typeof value.holder === "string" && typeof value.instance === "string") {
      return typeof value.partitions === "number"
        ? { holder: value.holder, instance: value.instance, partitions: value.partitions }
        : { holder: value.holder, instance: value.instance };
    }
  } catch {
    // fall through
  }
  return { holder: "?", instance: "?" };
}
