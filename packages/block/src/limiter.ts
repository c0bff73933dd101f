/**
 * Bounds the requests a backend has in flight: a counting semaphore with a FIFO wait list, so a
 * burst of requests queues here (in order) rather than piling onto the threadpool or a socket.
 */
export class InflightLimiter {
  readonly limit: number;
  #active = 0;
  readonly #waiting: Array<() => void> = [];
  #idle: Array<() => void> = [];

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Requests running now. */
  get active(): number {
    return this.#active;
  }

  /** Requests waiting for a slot. */
  get queued(): number {
    return this.#waiting.length;
  }

  /** Runs `fn` once a slot is free; the slot is held until its promise settles. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#active >= this.limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#active++;
    try {
      return await fn();
    } finally {
      const next = this.#waiting.shift();
      if (next)
        next(); // hands the slot on without releasing it
      else {
        this.#active--;
        if (this.#active === 0) this.#notifyIdle();
      }
    }
  }

  /** Resolves when nothing is running or waiting. */
  drain(): Promise<void> {
    if (this.#active === 0 && this.#waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #notifyIdle(): void {
    const idle = this.#idle;
    this.#idle = [];
    for (const f of idle) f();
  }
}
