import { ConvergeError } from "../codec/errors.js";

/** A compare-and-swap write saw another revision than the caller expected. */
export class ConflictError extends ConvergeError {
  constructor(
    readonly kind: string,
    readonly uid: string,
    readonly expectedRevision: number,
    readonly actualRevision: number | undefined,
  ) {
    super(
      "ERR_CONFLICT",
      `${kind}/${uid}: expected revision ${expectedRevision}, found ${actualRevision ?? "none (not found)"}`,
    );
  }
}

/** The storage was used after `close()`. */
export class StorageClosedError extends ConvergeError {
  constructor() {
    super("ERR_STORAGE_CLOSED", "storage is closed");
  }
}
