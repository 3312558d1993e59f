import { resized } from "../queue/typed-array.js";

/**
 * The keys being processed, with their kind and start time, for the
 * unfinished-work and longest-running gauges: start and finish are O(1) and
 * allocate nothing (a dense list with swap-remove, and each handle's slot in
 * it); the per-kind sums are computed by a scan at scrape time, when only the
 * keys in flight (a few thousand at most) are visited.
 */
export class RunningKeys {
  #handles = new Int32Array(64);
  #kinds = new Uint16Array(64);
  #started = new Float64Array(64);
  /** Per handle: its index in the list, or -1 when it is not running. */
  #slot = new Int32Array(0);
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** Records that `h` (of kind `kind`) started at `now`; false if it was running already. */
  start(h: number, kind: number, now: number): boolean {
    if (h >= this.#slot.length) this.#growSlots(h);
    if (this.#slot[h] >= 0) return false;
    const i = this.#size++;
    if (i === this.#handles.length) this.#growList();
    this.#handles[i] = h;
    this.#kinds[i] = kind;
    this.#started[i] = now;
    this.#slot[h] = i;
    return true;
  }

  /** Forgets `h`; returns when it started, or -1 if it was not running. */
  finish(h: number): number {
    if (h >= this.#slot.length) return -1;
    const i = this.#slot[h];
    if (i < 0) return -1;
    const started = this.#started[i];
    const last = --this.#size;
    if (i !== last) {
      const moved = this.#handles[last];
      this.#handles[i] = moved;
      this.#kinds[i] = this.#kinds[last];
      this.#started[i] = this.#started[last];
      this.#slot[moved] = i;
    }
    this.#slot[h] = -1;
    return started;
  }

  /**
   * Per kind, as of `now`: how many run (`count`), their summed running time in
   * seconds (`unfinished`) and the longest one (`longest`). The arrays are
   * zeroed first and must have a slot for every kind.
   */
  scan(now: number, count: Float64Array, unfinished: Float64Array, longest: Float64Array): void {
    count.fill(0);
    unfinished.fill(0);
    longest.fill(0);
    for (let i = 0; i < this.#size; i++) {
      const k = this.#kinds[i];
      const seconds = Math.max(0, now - this.#started[i]) / 1000;
      count[k]++;
      unfinished[k] += seconds;
      if (seconds > longest[k]) longest[k] = seconds;
    }
  }

  #growSlots(h: number): void {
    this.#slot = resized(this.#slot, Math.max(this.#slot.length * 2, h + 1, 64), -1);
  }

  #growList(): void {
    const n = this.#handles.length * 2;
    this.#handles = resized(this.#handles, n);
    this.#kinds = resized(this.#kinds, n);
    this.#started = resized(this.#started, n);
  }
}
