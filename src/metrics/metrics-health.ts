/** What /healthz and /readyz report. */
export interface HealthReport {
  /** The process works; false asks a supervisor to restart it. */
  live: boolean;
  /** It does its job now: send it work, count it in. */
  ready: boolean;
  /** Why it is not ready or not live; "" when it is both. */
  reason: string;
}

/**
 * Liveness and readiness, set by their owner (the controller): live from the
 * start, ready once the initial list is queued, not ready again once it stops.
 * Dead is final: a process that declared itself broken is restarted, not healed.
 */
export class HealthState {
  #live = true;
  #ready = false;
  #reason = "starting";

  get live(): boolean {
    return this.#live;
  }

  get ready(): boolean {
    return this.#live && this.#ready;
  }

  get reason(): string {
    return this.#reason;
  }

  markReady(): void {
    if (!this.#live) return;
    this.#ready = true;
    this.#reason = "";
  }

  markNotReady(reason: string): void {
    if (!this.#live) return;
    this.#ready = false;
    this.#reason = String(reason);
  }

  /** Not live, so not ready, for good. */
  markDead(reason: string): void {
    this.#live = false;
    this.#ready = false;
    this.#reason = String(reason);
  }

  report(): HealthReport {
    return { live: this.live, ready: this.ready, reason: this.#reason };
  }
}
