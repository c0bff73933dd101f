/**
 * Character backends: where a UART's bytes go and come from (QEMU's chardevs).
 *
 * A backend has one frontend (the UART) at a time. Output is pushed with `write`. Input is
 * queued by the backend and handed to the frontend only as far as the frontend has room
 * (`canReceive`); the frontend calls `acceptInput` when room frees up, so a slow guest pauses the
 * source (a socket is paused, stdin is paused) instead of losing bytes.
 */

/** The receiving side of a backend: what a UART offers to its chardev. */
export interface CharFrontend {
  /** How many bytes the frontend can take now (0 = none; the backend keeps the rest queued). */
  canReceive(): number;
  /** Bytes for the frontend; never more than the last `canReceive` allowed. */
  receive(data: Uint8Array): void;
  /** A break condition on the line. */
  receiveBreak?(): void;
}

/** A character backend: output sink, input source with flow control, and a lifetime. */
export interface CharBackend {
  /** Kind of backend (`memory`, `null`, `file`, `stdio`, `socket`). */
  readonly kind: string;
  /** Connect the frontend that receives input; replaces any previous one. */
  attach(frontend: CharFrontend): void;
  /** Disconnect the frontend; input stays queued until one attaches again. */
  detach(): void;
  /** Send bytes out. A backend without a peer drops them, as QEMU's chardevs do. */
  write(data: Uint8Array): void;
  /** The frontend has room again: deliver queued input. */
  acceptInput(): void;
  /** Release the backend's resources (files, sockets, listeners). Idempotent. */
  close(): Promise<void>;
}

/** Input queued above this many bytes pauses the source (socket, stdin). */
export const CHARDEV_INPUT_HIGH_WATER = 4096;

/**
 * Shared input handling of the backends: a queue of received chunks handed to the frontend as
 * it has room. Subclasses call {@link pushInput} with what their source produced and override
 * {@link onInputBelowHighWater}/{@link onInputAboveHighWater} to pause and resume the source.
 */
export abstract class BufferedCharBackend implements CharBackend {
  abstract readonly kind: string;
  private frontend: CharFrontend | undefined;
  private readonly queue: Uint8Array[] = [];
  private queued = 0;
  private paused = false;
  private delivering = false;
  /** Whether {@link close} was called. */
  protected closed = false;

  attach(frontend: CharFrontend): void {
    this.frontend = frontend;
    this.deliver();
  }

  detach(): void {
    this.frontend = undefined;
  }

  abstract write(data: Uint8Array): void;

  acceptInput(): void {
    this.deliver();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.frontend = undefined;
    this.queue.length = 0;
    this.queued = 0;
  }

  /** Bytes received from the source and not yet taken by the frontend. */
  get queuedInput(): number {
    return this.queued;
  }

  /** Queue bytes from the source and deliver what the frontend can take. */
  protected pushInput(data: Uint8Array): void {
    if (this.closed || data.length === 0) return;
    this.queue.push(data);
    this.queued += data.length;
    this.deliver();
    if (!this.paused && this.queued > CHARDEV_INPUT_HIGH_WATER) {
      this.paused = true;
      this.onInputAboveHighWater();
    }
  }

  /** Signal a break to the frontend. */
  protected pushBreak(): void {
    this.frontend?.receiveBreak?.();
  }

  /** Drop queued input (a peer went away). */
  protected dropInput(): void {
    this.queue.length = 0;
    this.queued = 0;
    this.resumeIfDrained();
  }

  /** Called once the queue passes the high-water mark: pause the source. */
  protected onInputAboveHighWater(): void {}
  /** Called once the queue drains below the high-water mark again: resume the source. */
  protected onInputBelowHighWater(): void {}

  private deliver(): void {
    // The frontend may call acceptInput from inside receive(); the outer loop continues instead.
    if (this.delivering) return;
    this.delivering = true;
    try {
      while (this.frontend !== undefined && this.queue.length > 0) {
        const room = this.frontend.canReceive();
        if (room <= 0) break;
        const head = this.queue[0]!;
        const chunk = head.length <= room ? head : head.subarray(0, room);
        if (chunk === head) this.queue.shift();
        else this.queue[0] = head.subarray(room);
        this.queued -= chunk.length;
        this.frontend.receive(chunk);
      }
    } finally {
      this.delivering = false;
    }
    this.resumeIfDrained();
  }

  private resumeIfDrained(): void {
    if (this.paused && this.queued <= CHARDEV_INPUT_HIGH_WATER) {
      this.paused = false;
      this.onInputBelowHighWater();
    }
  }
}
