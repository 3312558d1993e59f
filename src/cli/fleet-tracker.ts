import type { DeviceState } from "./demo-device-reconciler.js";
import { LatencyRecorder } from "./latency-recorder.js";

// Per device, in typed arrays indexed by device number (a million devices is 10 MB, not a million objects).
// 0 (a fresh Uint8Array's value): still converging toward its latest desired state.
const DONE = 1;

const RUNNING = 0;
const STOPPED = 1;

/** What the demo does after seeing a device reach its desired state. */
export type Observation = "none" | "converged" | "flip";

/**
 * The demo's view of the fleet: each device's latest desired state, when it was
 * set, and whether the device reached it. A device counts as converged once
 * its stored status matches its latest desired state and no change is still
 * planned for it; every time a desired state is reached, the time since it was
 * set is one latency sample.
 */
export class FleetTracker {
  readonly size: number;
  readonly latency: LatencyRecorder;
  /** Devices planned to have their desired state flipped once they first converge. */
  readonly flipsPlanned: number;
  #flipsRequested = 0;
  #converged = 0;
  readonly #desired: Uint8Array;
  readonly #phase: Uint8Array;
  readonly #flip: Uint8Array;
  readonly #setAt: Float64Array;

  /**
   * @param changes fraction of devices to flip: exactly `round(changes * size)` of them, chosen at random.
   * @param random a source in [0,1), replaceable so tests can fix the choice.
   */
  constructor(size: number, changes: number, random: () => number = Math.random) {
    this.size = size;
    this.latency = new LatencyRecorder(Math.min(size * 2, 1 << 20));
    this.#desired = new Uint8Array(size);
    this.#phase = new Uint8Array(size);
    this.#flip = new Uint8Array(size);
    this.#setAt = new Float64Array(size);
    this.flipsPlanned = Math.min(size, Math.round(changes * size));
    // Floyd's sampling: exactly flipsPlanned distinct devices, O(flipsPlanned), no index array.
    for (let j = size - this.flipsPlanned; j < size; j++) {
      const t = Math.floor(random() * (j + 1));
      if (this.#flip[t] === 1) this.#flip[j] = 1;
      else this.#flip[t] = 1;
    }
  }

  get converged(): number {
    return this.#converged;
  }

  get flipsRequested(): number {
    return this.#flipsRequested;
  }

  /** Every device has reached its latest desired state, and every planned flip was made. */
  get done(): boolean {
    return this.#converged === this.size;
  }

  desiredOf(device: number): DeviceState {
    return this.#desired[device] === STOPPED ? "stopped" : "running";
  }

  /** Records that `device`'s desired state was set to `state` at `now` (ms). */
  setDesired(device: number, state: DeviceState, now: number): void {
    this.#desired[device] = state === "stopped" ? STOPPED : RUNNING;
    this.#setAt[device] = now;
  }

  /**
   * A stored copy of `device` was seen at `now` with `desired` in its spec and
   * `state` in its status. Returns "flip" when the caller must now change the
   * device's desired state (already recorded here as "stopped").
   */
  observe(device: number, desired: unknown, state: unknown, now: number): Observation {
    if (this.#phase[device] === DONE) return "none";
    const latest = this.desiredOf(device);
    // A copy written before the latest desired state was set says nothing about it.
    if (desired !== latest || state !== latest) return "none";
    this.latency.record(now - this.#setAt[device]);
    if (this.#flip[device] === 1) {
      this.#flip[device] = 0;
      this.#flipsRequested++;
      this.setDesired(device, latest === "running" ? "stopped" : "running", now);
      return "flip";
    }
    this.#phase[device] = DONE;
    this.#converged++;
    return "converged";
  }
}
