/**
 * Claiming a UNIX socket path before listening on it: a stale socket (nobody accepts on it) is
 * replaced, a live one or a non-socket file is refused with a clear error.
 */
import { lstat, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { AppError } from './errors';

/** Whether something accepts connections on the UNIX socket at `path`. */
export function socketIsLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/**
 * Makes `path` free for `listen`: nothing there, or a stale socket (removed). Throws
 * {@link AppError} `socket-in-use` when a live process listens there or the path is not a socket.
 */
export async function claimSocketPath(path: string, what: string): Promise<void> {
  let stats: Awaited<ReturnType<typeof lstat>>;
  try {
    stats = await lstat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new AppError('socket-in-use', `${what}: cannot use ${path}: ${(e as Error).message}`, {
      socketPath: path,
      cause: e,
    });
  }
  if (!stats.isSocket()) {
    throw new AppError('socket-in-use', `${what}: ${path} exists and is not a socket; not replacing it`, {
      socketPath: path,
    });
  }
  if (await socketIsLive(path)) {
    throw new AppError('socket-in-use', `${what}: socket ${path} is in use by another process`, {
      socketPath: path,
    });
  }
  await unlink(path).catch(() => {});
}
