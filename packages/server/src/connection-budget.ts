/**
 * Connections waiting to be told "busy": a client that connects while another is served gets one
 * EBUSY error reply before it is closed. Each such connection holds an fd, so a flood of them
 * could exhaust the process's fds; endpoints therefore hold only a few (per endpoint and, through
 * one shared budget, across all endpoints of a process) and close the rest at once.
 */

/** Options of a {@link ConnectionBudget}. */
export interface ConnectionBudgetOptions {
  /** Refused connections held at once by all endpoints sharing the budget (default 256). */
  maxPending?: number;
}

/** A count of held connections shared by endpoints (pass one to each `VfioUserServer`). */
export class ConnectionBudget {
  readonly maxPending: number;
  #pending = 0;

  constructor(opts: ConnectionBudgetOptions = {}) {
    const max = opts.maxPending ?? 256;
    if (!Number.isSafeInteger(max) || max < 0) {
      throw new RangeError(`maxPending must be a non-negative integer, got ${String(max)}`);
    }
    this.maxPending = max;
  }

  /** Connections held now. */
  get pending(): number {
    return this.#pending;
  }

  /** Takes one slot; false when the budget is spent. */
  take(): boolean {
    if (this.#pending >= this.maxPending) return false;
    this.#pending++;
    return true;
  }

  /** Gives a slot back. */
  release(): void {
    if (this.#pending > 0) this.#pending--;
  }
}

/** Logs a repeated warning at most once per interval, with the count of the ones it held back. */
export class RateLimitedWarning {
  readonly #intervalMs: number;
  #last = -Infinity;
  #held = 0;

  constructor(intervalMs = 1000) {
    this.#intervalMs = intervalMs;
  }

  /** Calls `log(suppressed)` unless one was logged within the interval. */
  warn(log: (suppressed: number) => void): void {
    const now = Date.now();
    if (now - this.#last < this.#intervalMs) {
      this.#held++;
      return;
    }
    const suppressed = this.#held;
    this.#held = 0;
    this.#last = now;
    log(suppressed);
  }
}
