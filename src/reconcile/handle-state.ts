import { resized } from "../queue/typed-array.js";

/**
 * Per-key controller state indexed by the queue's handle, so the hot path
 * never hashes a key string.
 */
export class HandleState {
  /** 1 once the rate limiter counted a failure, so a success must forget it. */
  failed = new Uint8Array(1024);
  /** The priority the key was last served at; its requeues keep it. */
  priority = new Int32Array(1024);
  /** Why the key was last enqueued (metadata only: never splits a key). */
  reason: (string | undefined)[] = [];

  /** Clears `h` for reuse by another key. */
  reset(h: number): void {
    if (h >= this.failed.length) return;
    this.failed[h] = 0;
    this.priority[h] = 0;
    this.reason[h] = undefined;
  }

  ensure(h: number): void {
    if (h < this.failed.length) return;
    let size = this.failed.length;
    while (size <= h) size *= 2;
    this.failed = resized(this.failed, size);
    this.priority = resized(this.priority, size);
  }
}
