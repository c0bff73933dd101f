import { chmodSync, unlinkSync } from 'node:fs';
import {
  check,
  createPoll,
  type NativePoll,
  native,
  syscallError,
  UV_READABLE,
  UV_WRITABLE,
} from './binding';
import { SysError } from './errors';
import { OwnedFd } from './owned-fd';

const EAGAIN = 11;
const SOCK_STREAM = 1;
const AF_UNIX = 1;

/** What one {@link UnixSocket.recvmsg} call received. */
export interface ReceivedChunk {
  /** Bytes written into the buffer; 0 means the peer closed its end (end of stream). */
  bytes: number;
  /** File descriptors that arrived with these bytes (SCM_RIGHTS), now owned by the caller. */
  fds: OwnedFd[];
  /** Descriptors beyond `maxFds` that arrived too; they were closed on receipt. */
  droppedFds: number;
}

/** Options for {@link UnixSocket.connect}. */
export interface ConnectOptions {
  /** Give up after this long while the listener's backlog stays full (default 5000 ms). */
  timeoutMs?: number;
}

/** Something that can be sent as a file descriptor: a number or any owner exposing `fd`. */
export type FdLike = number | { readonly fd: number };

function rawFd(fd: FdLike): number {
  const n = typeof fd === 'number' ? fd : fd.fd;
  if (!Number.isInteger(n) || n < 0)
    throw new SysError('INVALID_ARGUMENT', `not a file descriptor: ${String(n)}`);
  return n;
}

/**
 * A connected AF_UNIX stream socket, non-blocking and close-on-exec, read and written only through
 * the native addon so that file descriptors passed with SCM_RIGHTS are never lost (Node's own
 * `net.Socket` reads with `read()`, which silently discards them).
 *
 * I/O is readiness based, like the kernel's: `onReadable`/`onWritable` register level-triggered
 * callbacks on Node's event loop (libuv poll, no busy polling), and `recvmsg`/`sendmsg` never block.
 */
export class UnixSocket {
  readonly #owned: OwnedFd;
  readonly #meta = new Int32Array(2 + 253);
  #poll: NativePoll | undefined;
  #onReadable: (() => void) | undefined;
  #onWritable: (() => void) | undefined;
  #events = 0;
  #unref = false;

  private constructor(owned: OwnedFd) {
    this.#owned = owned;
  }

  /** Two connected sockets (`socketpair`), e.g. for tests or a twin-socket channel. */
  static pair(): [UnixSocket, UnixSocket] {
    const r = native().socketpair();
    if (typeof r === 'number') check(r, 'socketpair');
    const [a, b] = r as [number, number];
    return [new UnixSocket(new OwnedFd(a)), new UnixSocket(new OwnedFd(b))];
  }

  /**
   * Takes ownership of a connected AF_UNIX stream socket fd (inherited with `--fd`, or received
   * from a peer) and makes it non-blocking. Throws INVALID_ARGUMENT (and leaves the fd open, still
   * the caller's) when it is not one.
   */
  static adopt(fd: OwnedFd): UnixSocket {
    const raw = fd.fd;
    const kind = check(native().socketKind(raw), 'getsockopt(SO_TYPE)', { fd: raw });
    if ((kind & 0xff) !== SOCK_STREAM || kind >> 8 !== AF_UNIX) {
      throw new SysError('INVALID_ARGUMENT', `fd ${raw} is not an AF_UNIX stream socket`, { fd: raw });
    }
    check(native().setNonBlocking(raw), 'fcntl(F_SETFL)', { fd: raw });
    return new UnixSocket(fd);
  }

  /**
   * Connects to a listening socket at `path` without waiting. Throws SYSCALL_FAILED: `ENOENT` (no
   * such path), `ECONNREFUSED` (nobody listening: a stale socket file), `EAGAIN` (backlog full).
   */
  static connectSync(path: string): UnixSocket {
    const n = native();
    const owned = new OwnedFd(check(n.socket(), 'socket'));
    const rc = n.connect(owned.fd, path);
    if (rc < 0) {
      owned.close();
      throw syscallError(-rc, 'connect', { path });
    }
    return new UnixSocket(owned);
  }

  /** Connects to `path`, retrying while the listener's backlog is full (EAGAIN) up to `timeoutMs`. */
  static async connect(path: string, options: ConnectOptions = {}): Promise<UnixSocket> {
    const deadline = Date.now() + (options.timeoutMs ?? 5000);
    let delay = 1;
    for (;;) {
      try {
        return UnixSocket.connectSync(path);
      } catch (error) {
        if (!(error instanceof SysError) || error.errno !== EAGAIN || Date.now() >= deadline) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 50);
    }
  }

  /** The descriptor number. Throws `FD_CLOSED` after close. */
  get fd(): number {
    return this.#owned.fd;
  }

  /** True after `close()`. */
  get closed(): boolean {
    return this.#owned.closed;
  }

  /**
   * Sends bytes (gathered from `data`) and, with the first byte, `fds` (SCM_RIGHTS; the kernel
   * duplicates them, the caller keeps its own). Returns the number of bytes written: possibly fewer
   * than offered, 0 when the socket buffer is full (nothing, not even the fds, was sent). Throws
   * SYSCALL_FAILED on a broken connection (EPIPE, ECONNRESET).
   */
  sendmsg(data: Uint8Array | readonly Uint8Array[], fds: readonly FdLike[] = []): number {
    const fd = this.fd;
    const buffers = data instanceof Uint8Array ? [data] : data;
    const raw = fds.length === 0 ? (fds as readonly number[]) : fds.map(rawFd);
    const rc = native().sendmsg(fd, buffers, raw);
    if (rc === -EAGAIN) return 0;
    return check(rc, 'sendmsg', { fd });
  }

  /**
   * Receives into `buffer` without blocking. Keeps at most `maxFds` received descriptors (as
   * owned objects in the result) and closes any beyond them, reporting their count. Returns null
   * when nothing is available. Throws CONTROL_TRUNCATED (all fds of the message already closed)
   * when the kernel truncated the descriptor list, SYSCALL_FAILED on socket errors.
   */
  recvmsg(buffer: Uint8Array, maxFds = 0): ReceivedChunk | null {
    const fd = this.fd;
    const n = native();
    const limit = Math.max(0, Math.min(maxFds, n.SCM_MAX_FD));
    const meta = this.#meta;
    const rc = n.recvmsg(fd, buffer, limit, meta);
    if (rc === -EAGAIN) return null;
    if (rc === n.CONTROL_TRUNCATED) {
      throw new SysError('CONTROL_TRUNCATED', 'received file descriptors were truncated (MSG_CTRUNC)', {
        syscall: 'recvmsg',
        fd,
      });
    }
    check(rc, 'recvmsg', { fd });
    const kept = meta[0]!;
    const fds: OwnedFd[] = [];
    for (let i = 0; i < kept; i++) fds.push(new OwnedFd(meta[2 + i]!));
    return { bytes: rc, fds, droppedFds: meta[1]! };
  }

  /**
   * Calls `callback` from the event loop whenever data (or end of stream, or an error) is
   * waiting; level-triggered, so it keeps firing until `recvmsg` returns null. `null` stops.
   */
  onReadable(callback: (() => void) | null): void {
    this.#onReadable = callback ?? undefined;
    this.#updatePoll();
  }

  /** Calls `callback` from the event loop whenever the socket can take more bytes. `null` stops. */
  onWritable(callback: (() => void) | null): void {
    this.#onWritable = callback ?? undefined;
    this.#updatePoll();
  }

  /** Lets the process exit even while callbacks are registered. */
  unref(): void {
    this.#unref = true;
    this.#poll?.unref();
  }

  /** Undoes `unref()`. */
  ref(): void {
    this.#unref = false;
    this.#poll?.ref();
  }

  /** Half-closes the connection (`shutdown`): the peer reads end of stream after pending bytes. */
  shutdown(how: 'read' | 'write' | 'both' = 'write'): void {
    const fd = this.fd;
    check(native().shutdown(fd, how === 'read' ? 0 : how === 'write' ? 1 : 2), 'shutdown', { fd });
  }

  /** Stops callbacks and closes the socket. Safe to call more than once. */
  close(): void {
    this.#poll?.close();
    this.#poll = undefined;
    this.#onReadable = undefined;
    this.#onWritable = undefined;
    this.#owned.close();
  }

  #updatePoll(): void {
    if (this.closed) return;
    const events = (this.#onReadable ? UV_READABLE : 0) | (this.#onWritable ? UV_WRITABLE : 0);
    if (events === this.#events && this.#poll) return;
    this.#events = events;
    if (events === 0) {
      this.#poll?.stop();
      return;
    }
    const fd = this.fd;
    if (!this.#poll) {
      this.#poll = createPoll(fd, (status, ready) => this.#dispatch(status, ready));
      if (this.#unref) this.#poll.unref();
    }
    check(this.#poll.start(events), 'uv_poll_start', { fd });
  }

  #dispatch(status: number, ready: number): void {
    // On a poll error, wake both sides: their next syscall reports the error as a SysError.
    const error = status < 0;
    // libuv stops a poll handle that reports an error (EPOLLERR, e.g. a peer reset), but a socket
    // with a pending error can still hold unread bytes: re-arm below, or a reader that stops after
    // a burst would never hear from the socket again.
    if (error) this.#events = 0;
    if ((error || ready & UV_READABLE) && this.#onReadable) this.#onReadable();
    if (this.closed) return;
    if ((error || ready & UV_WRITABLE) && this.#onWritable) this.#onWritable();
    if (error && !this.closed) this.#updatePoll();
  }
}

/** Options for {@link UnixListener.listen}. */
export interface ListenOptions {
  /** Pending-connection queue length (default 128). */
  backlog?: number;
  /** File mode of the socket file, set before it accepts connections (default 0o600). */
  mode?: number;
}

/**
 * A listening AF_UNIX stream socket bound to a filesystem path. It never removes files: callers
 * decide what to do with an existing path (see @vfu/transport's `listen`).
 */
export class UnixListener {
  /** The path the socket is bound to. */
  readonly path: string;
  readonly #owned: OwnedFd;
  #poll: NativePoll | undefined;

  private constructor(path: string, owned: OwnedFd) {
    this.path = path;
    this.#owned = owned;
  }

  /**
   * Binds and listens at `path`. The mode is applied between bind and listen, so no connection
   * is ever accepted under looser permissions. Throws SYSCALL_FAILED `EADDRINUSE` when the path
   * exists (stale or not), `ENAMETOOLONG` when it exceeds 107 bytes.
   */
  static listen(path: string, options: ListenOptions = {}): UnixListener {
    const n = native();
    const owned = new OwnedFd(check(n.socket(), 'socket'));
    const fd = owned.fd;
    const rc = n.bind(fd, path);
    if (rc < 0) {
      owned.close();
      throw syscallError(-rc, 'bind', { path });
    }
    try {
      chmodSync(path, options.mode ?? 0o600);
      check(n.listen(fd, options.backlog ?? 128), 'listen', { path });
    } catch (error) {
      owned.close();
      unlinkSync(path);
      throw error;
    }
    return new UnixListener(path, owned);
  }

  /** The descriptor number. Throws `FD_CLOSED` after close. */
  get fd(): number {
    return this.#owned.fd;
  }

  /** True after `close()`. */
  get closed(): boolean {
    return this.#owned.closed;
  }

  /** Accepts one pending connection, or returns null when none is waiting. */
  accept(): UnixSocket | null {
    const fd = this.fd;
    const rc = native().accept(fd);
    if (rc === -EAGAIN) return null;
    // A connection that died in the queue is not the listener's failure.
    if (rc === -103 /* ECONNABORTED */) return null;
    check(rc, 'accept', { fd });
    return UnixSocket.adopt(new OwnedFd(rc));
  }

  /**
   * Calls `callback` from the event loop with each accepted connection, which it then owns.
   * Accept failures (e.g. EMFILE: out of descriptors) go to `onError` and accepting pauses for
   * 50 ms instead of spinning. `null` stops accepting (connections queue in the kernel backlog).
   */
  onConnection(callback: ((socket: UnixSocket) => void) | null, onError?: (error: SysError) => void): void {
    clearTimeout(this.#resume);
    if (callback === null) {
      this.#poll?.stop();
      return;
    }
    const fd = this.fd;
    this.#poll?.close();
    const poll = createPoll(fd, () => {
      while (!this.closed) {
        let socket: UnixSocket | null;
        try {
          socket = this.accept();
        } catch (error) {
          poll.stop();
          this.#resume = setTimeout(() => {
            if (!this.closed && this.#poll === poll) poll.start(UV_READABLE);
          }, 50);
          onError?.(error as SysError);
          return;
        }
        if (!socket) return;
        callback(socket);
      }
    });
    this.#poll = poll;
    check(poll.start(UV_READABLE), 'uv_poll_start', { fd });
  }

  #resume: ReturnType<typeof setTimeout> | undefined;

  /** Lets the process exit while accepting. */
  unref(): void {
    this.#poll?.unref();
  }

  /** Stops accepting and closes the socket (the socket file stays). Safe to call more than once. */
  close(): void {
    clearTimeout(this.#resume);
    this.#poll?.close();
    this.#poll = undefined;
    this.#owned.close();
  }
}
