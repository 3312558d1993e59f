import { ConvergeError } from "../codec/errors.js";

export const DUPLICATE_IDENTITY = "ERR_DUPLICATE_IDENTITY";
export const CLUSTER_CLOSED = "ERR_CLUSTER_CLOSED";
export const PARTITIONS_MISMATCH = "ERR_PARTITIONS_MISMATCH";

/** Another live process announces the same identity in the bucket: this one refuses to start. */
export class DuplicateIdentityError extends ConvergeError {
  constructor(
    readonly identity: string,
    readonly bucket: string,
  ) {
    super(
      DUPLICATE_IDENTITY,
      `identity ${JSON.stringify(identity)} is in use by another live process in KV bucket "${bucket}": give each process its own identity (e.g. hostname and pid)`,
    );
  }
}

/** The sharding or election was used after `leave()`/`close()`, or joined twice. */
export class ClusterStateError extends ConvergeError {
  constructor(message: string) {
    super(CLUSTER_CLOSED, message);
  }
}

/** A live member of the bucket uses another partition count: keys would map to different partitions, so this process refuses to start. */
export class PartitionsMismatchError extends ConvergeError {
  constructor(
    readonly partitions: number,
    readonly member: string,
    readonly memberPartitions: number,
    readonly bucket: string,
  ) {
    super(
      PARTITIONS_MISMATCH,
      `options.partitions is ${partitions} but member ${JSON.stringify(member)} of KV bucket "${bucket}" uses ${memberPartitions}: every process sharing a bucket must use the same partitions (or another bucket)`,
    );
  }
}
