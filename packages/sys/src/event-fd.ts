import { check, createPoll, type NativePoll, native, UV_READABLE } from './binding';
import { SysError } from './errors';
import { OwnedFd } from './owned-fd';

/** Options for {@link EventFd.create}. */
export interface EventFdOptions {
  /** Initial counter value (default 0). */
  initialValue?: number;
  /** EFD_SEMAPHORE: each read takes 1 instead of the whole counter. */
  semaphore?: boolean;
}

const MAX_COUNTER = 0xfffffffffffffffen;

/**
 * A Linux eventfd (non-blocking, close-on-exec): the doorbell vfio-user uses for interrupts
 * (SET_IRQS) and ioeventfds. `signal()` adds to the counter; `read()` takes it; `onSignal()` calls
 * back from Node's event loop whenever the counter becomes non-zero.
 */
export class EventFd {
  readonly #owned: OwnedFd;
  #poll: NativePoll | undefined;

  private constructor(owned: OwnedFd) {
    this.#owned = owned;
  }

  /** A new eventfd. */
  static create(options: EventFdOptions = {}): EventFd {
    const initial = options.initialValue ?? 0;
    if (!Number.isInteger(initial) || initial < 0 || initial > 0xffffffff) {
      throw new SysError('INVALID_ARGUMENT', `initialValue must be a u32, got ${initial}`);
    }
    return new EventFd(new OwnedFd(check(native().eventfd(initial, options.semaphore ?? false), 'eventfd')));
  }

  /** Takes ownership of an eventfd received from a peer (it is made non-blocking). */
  static adopt(fd: OwnedFd): EventFd {
    const raw = fd.fd;
    check(native().setNonBlocking(raw), 'fcntl(F_SETFL)', { fd: raw });
    return new EventFd(fd);
  }

  /** The descriptor number (to pass to a peer). Throws `FD_CLOSED` after close. */
  get fd(): number {
    return this.#owned.fd;
  }

  /** True after `close()`. */
  get closed(): boolean {
    return this.#owned.closed;
  }

  /** Adds `value` (default 1) to the counter. Returns false if it would overflow (nothing written). */
  signal(value: bigint | number = 1n): boolean {
    const v = BigInt(value);
    if (v <= 0n || v > MAX_COUNTER) {
      throw new SysError('INVALID_ARGUMENT', `eventfd value must be in 1..2^64-2, got ${v}`);
    }
    const fd = this.fd;
    const rc = native().eventfdWrite(fd, v);
    if (rc === -11) return false;
    check(rc, 'write', { fd });
    return true;
  }

  /** Takes the counter (or 1 in semaphore mode). Returns null when it is zero. */
  read(): bigint | null {
    const fd = this.fd;
    const r = native().eventfdRead(fd);
    if (typeof r === 'bigint') return r;
    if (r === -11) return null;
    check(r, 'read', { fd });
    return null;
  }

  /**
   * Calls `listener` from the event loop with each value read while the counter is non-zero;
   * `null` stops. Replaces a previous listener or pending `wait()`. Keeps the process alive while
   * set (see `unref`).
   */
  onSignal(listener: ((value: bigint) => void) | null): void {
    this.#rejectWaiter = undefined;
    if (listener === null) {
      this.#listener = undefined;
      this.#poll?.stop();
      return;
    }
    const fd = this.fd;
    this.#listener = listener;
    const poll = this.#poll ?? this.#makePoll(fd);
    check(poll.start(UV_READABLE), 'uv_poll_start', { fd });
  }

  /**
   * Resolves with the next value read; rejects with `FD_CLOSED` if closed first. Replaces any
   * listener set with `onSignal`.
   */
  wait(): Promise<bigint> {
    return new Promise((resolve, reject) => {
      this.onSignal((value) => {
        this.onSignal(null);
        resolve(value);
      });
      this.#rejectWaiter = reject;
    });
  }

  #listener: ((value: bigint) => void) | undefined;
  #rejectWaiter: ((error: SysError) => void) | undefined;

  #makePoll(fd: number): NativePoll {
    const poll = createPoll(fd, () => {
      if (this.closed) return;
      const value = this.read();
      if (value !== null) this.#listener?.(value);
    });
    this.#poll = poll;
    return poll;
  }

  /** Lets the process exit while `onSignal` is armed. */
  unref(): void {
    this.#poll?.unref();
  }

  /** Undoes `unref()`. */
  ref(): void {
    this.#poll?.ref();
  }

  /** Stops polling and closes the fd. Safe to call more than once. */
  close(): void {
    this.#poll?.close();
    this.#poll = undefined;
    this.#listener = undefined;
    const reject = this.#rejectWaiter;
    this.#rejectWaiter = undefined;
    this.#owned.close();
    reject?.(new SysError('FD_CLOSED', 'eventfd closed while waiting'));
  }
}
