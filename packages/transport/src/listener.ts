import { EventEmitter } from 'node:events';
import { lstatSync, unlinkSync } from 'node:fs';
import { Errno } from '@vfu/protocol';
import { isSysError, UnixListener, UnixSocket } from '@vfu/sys';
import { Channel, type ChannelOptions } from './channel';
import { TransportError } from './errors';

/** Options for {@link listen}. */
export interface ListenOptions extends ChannelOptions {
  /** Mode of the socket file, applied before any connection is accepted (default 0o600). */
  mode?: number;
  /** Kernel queue of connections not yet accepted (default 16). */
  backlog?: number;
  /** Accepted channels held for `accept()` when nobody listens for 'channel' (default 16). */
  maxUnclaimed?: number;
}

/** Events of a {@link Listener}. */
export interface ListenerEvents {
  /** A client connected. With no listener, channels wait for `accept()` / async iteration. */
  channel: [channel: Channel];
  /** Accepting failed (e.g. out of fds); accepting resumes shortly after. */
  warning: [error: TransportError];
  /** The listener closed. */
  close: [];
}

/**
 * A vfio-user server socket at a filesystem path. Each accepted connection becomes a
 * {@link Channel}: take them from the 'channel' event, `accept()`, or `for await`.
 */
export class Listener extends EventEmitter<ListenerEvents> {
  /** The socket path. */
  readonly path: string;
  readonly #socket: UnixListener;
  readonly #options: ChannelOptions;
  readonly #maxUnclaimed: number;
  readonly #identity: { dev: number; ino: number };
  readonly #unclaimed: Channel[] = [];
  readonly #waiters: { resolve(channel: Channel): void; reject(error: TransportError): void }[] = [];
  #closed = false;

  /** @internal Use {@link listen}. */
  constructor(path: string, socket: UnixListener, options: ListenOptions) {
    super();
    this.path = path;
    this.#socket = socket;
    const { mode: _mode, backlog: _backlog, maxUnclaimed, ...channelOptions } = options;
    this.#options = channelOptions;
    this.#maxUnclaimed = maxUnclaimed ?? 16;
    const st = lstatSync(path);
    this.#identity = { dev: st.dev, ino: st.ino };
    socket.onConnection(
      (s) => this.#onConnection(s),
      (cause) =>
        this.emit(
          'warning',
          new TransportError('LISTEN_FAILED', `accept failed: ${cause.message}`, { path, cause }),
        ),
    );
  }

  /** True after `close()`. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The next connection (one already waiting, or the next to arrive). Rejects with CLOSED. */
  accept(): Promise<Channel> {
    const ready = this.#unclaimed.shift();
    if (ready) return Promise.resolve(ready);
    if (this.#closed)
      return Promise.reject(new TransportError('CLOSED', 'listener is closed', { path: this.path }));
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Iterates connections until the listener closes. */
  async *[Symbol.asyncIterator](): AsyncIterator<Channel> {
    for (;;) {
      try {
        yield await this.accept();
      } catch (error) {
        if ((error as TransportError).code === 'CLOSED') return;
        throw error;
      }
    }
  }

  /** Lets the process exit while listening. */
  unref(): void {
    this.#socket.unref();
  }

  /**
   * Stops accepting, closes channels nobody claimed and removes the socket file if it is still
   * the one this listener created. Channels already handed out stay open.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.close();
    try {
      const st = lstatSync(this.path);
      if (st.dev === this.#identity.dev && st.ino === this.#identity.ino) unlinkSync(this.path);
    } catch {
      // Already removed by someone else: nothing of ours to clean up.
    }
    for (const channel of this.#unclaimed.splice(0)) channel.destroy();
    for (const waiter of this.#waiters.splice(0)) {
      waiter.reject(new TransportError('CLOSED', 'listener is closed', { path: this.path }));
    }
    this.emit('close');
  }

  #onConnection(socket: UnixSocket): void {
    const channel = new Channel(socket, this.#options);
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve(channel);
    else if (this.listenerCount('channel') > 0) this.emit('channel', channel);
    else if (this.#unclaimed.length < this.#maxUnclaimed) this.#unclaimed.push(channel);
    else channel.destroy();
  }
}

/**
 * Listens for vfio-user clients at `path`. The socket file gets mode 0600 (or `mode`) before it
 * accepts anything. An existing path is handled so that a live server is never displaced:
 * - a socket that accepts a connection (someone is serving it): ADDRESS_IN_USE;
 * - a socket nobody listens on (left by a dead process): removed and replaced;
 * - anything that is not a socket: ADDRESS_IN_USE, never removed.
 */
export function listen(path: string, options: ListenOptions = {}): Listener {
  if (typeof path !== 'string' || path.length === 0) {
    throw new TransportError('INVALID_ARGUMENT', 'socket path must be a non-empty string');
  }
  removeStaleSocket(path);
  let socket: UnixListener;
  try {
    socket = UnixListener.listen(path, {
      ...(options.mode === undefined ? {} : { mode: options.mode }),
      backlog: options.backlog ?? 16,
    });
  } catch (cause) {
    const errno = isSysError(cause) ? cause.errno : undefined;
    throw new TransportError(
      errno === Errno.EADDRINUSE ? 'ADDRESS_IN_USE' : 'LISTEN_FAILED',
      `cannot listen at ${path}: ${(cause as Error).message}`,
      { path, cause, ...(errno === undefined ? {} : { errno }) },
    );
  }
  return new Listener(path, socket, options);
}

function removeStaleSocket(path: string): void {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) {
    throw new TransportError('ADDRESS_IN_USE', `${path} exists and is not a socket; not removing it`, {
      path,
      errno: Errno.EADDRINUSE,
    });
  }
  try {
    UnixSocket.connectSync(path).close();
  } catch (cause) {
    if (isSysError(cause) && cause.errno === Errno.ECONNREFUSED) {
      unlinkSync(path);
      return;
    }
    // EAGAIN (backlog full) means alive; EACCES means someone else's: either way not ours.
    throw new TransportError(
      'ADDRESS_IN_USE',
      `${path} is a socket that cannot be checked: ${String(cause)}`,
      {
        path,
        cause,
        errno: Errno.EADDRINUSE,
      },
    );
  }
  throw new TransportError('ADDRESS_IN_USE', `a server is already listening at ${path}`, {
    path,
    errno: Errno.EADDRINUSE,
  });
}
