import { isSysError, type OwnedFd, UnixSocket } from '@vfu/sys';
import { Channel, type ChannelOptions } from './channel';
import { TransportError } from './errors';

/** Options for {@link connect}. */
export interface ConnectOptions extends ChannelOptions {
  /** How long to keep retrying while the server's backlog is full (default 5000 ms). */
  connectTimeoutMs?: number;
}

/** Connects to a vfio-user server listening at `path`. Rejects with CONNECT_FAILED (with errno). */
export async function connect(path: string, options: ConnectOptions = {}): Promise<Channel> {
  const { connectTimeoutMs, ...channelOptions } = options;
  let socket: UnixSocket;
  try {
    socket = await UnixSocket.connect(path, { timeoutMs: connectTimeoutMs ?? 5000 });
  } catch (cause) {
    const errno = isSysError(cause) ? cause.errno : undefined;
    // The system error reads "connect PATH: reason"; name the path once.
    const text = (cause as Error).message;
    const prefix = isSysError(cause) ? `${cause.syscall} ${path}: ` : undefined;
    const reason = prefix !== undefined && text.startsWith(prefix) ? text.slice(prefix.length) : text;
    throw new TransportError('CONNECT_FAILED', `cannot connect to ${path}: ${reason}`, {
      path,
      cause,
      ...(errno === undefined ? {} : { errno }),
    });
  }
  return new Channel(socket, channelOptions);
}

/**
 * A channel over a connected socket fd the process already owns: one inherited with `--fd=N`,
 * or the twin socket received in a VERSION reply. Throws INVALID_ARGUMENT if it is not a
 * connected UNIX stream socket (the fd then stays the caller's).
 */
export function channelFromFd(fd: OwnedFd, options: ChannelOptions = {}): Channel {
  let socket: UnixSocket;
  try {
    socket = UnixSocket.adopt(fd);
  } catch (cause) {
    throw new TransportError('INVALID_ARGUMENT', `fd cannot carry a channel: ${(cause as Error).message}`, {
      cause,
    });
  }
  return new Channel(socket, options);
}

/** Two channels connected to each other in this process (socketpair), e.g. for tests. */
export function channelPair(
  options: ChannelOptions = {},
  peerOptions: ChannelOptions = options,
): [Channel, Channel] {
  const [a, b] = UnixSocket.pair();
  return [new Channel(a, options), new Channel(b, peerOptions)];
}
