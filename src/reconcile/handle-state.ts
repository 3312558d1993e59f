/**
 * Per-key controller state in typed arrays indexed by the queue's handle, so
 * the hot path never hashes a key string.
 */
export class HandleState {
  /** Revision of the controller's own last status write (its watch echo is ignored). */
  lastWritten = new Float64Array(1024);
  /** 1 while a status write is in flight: watch puts seen meanwhile are judged after it. */
  writing = new Uint8Array(1024);
  /** Watch puts seen while writing (saturates at 255) and the last such revision. */
  seenWhileWriting = new Uint8Array(1024);
  seenRevision = new Float64Array(1024);
  /** 1 once the rate limiter counted a failure, so a success must forget it. */
  failed = new Uint8Array(1024);
  /** Why the key was last enqueued (metadata only: never splits a key). */
  reason: (string | undefined)[] = [];

  /** Clears `h` for reuse by another key. */
  reset(h: number): void {
    if (h >= this.failed.length) return;
    this.lastWritten[h] = 0;
    this.writing[h] = 0;
    this.seenWhileWriting[h] = 0;
    this.seenRevision[h] = 0;
    this.failed[h] = 0;
    this.reason[h] = undefined;
  }

  ensure(h: number): void {
    if (h < this.failed.length) return;
    let size = this.failed.length;
    while (size <= h) size *= 2;
    this.lastWritten = grow(this.lastWritten, new Float64Array(size));
    this.writing = grow(this.writing, new Uint8Array(size));
    this.seenWhileWriting = grow(this.seenWhileWriting, new Uint8Array(size));
    this.seenRevision = grow(this.seenRevision, new Float64Array(size));
    this.failed = grow(this.failed, new Uint8Array(size));
  }
}

function grow<T extends Float64Array | Uint8Array>(from: T, to: T): T {
  to.set(from);
  return to;
}
