import { lstatSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { DeviceError } from '../errors';
import { BufferedCharBackend } from './char-backend';

/**
 * A backend listening on a UNIX socket (QEMU's `socket,path=...,server=on,wait=off`): one peer
 * at a time is the other end of the line; a second connection is refused (closed) while one is
 * active. Output while nobody is connected is dropped. Input is paused at the socket while the
 * UART has no room. The socket file is removed on close.
 */
export class SocketCharBackend extends BufferedCharBackend {
  readonly kind = 'socket';
  /** Path of the listening socket. */
  readonly path: string;
  /** Resolves once the socket listens; rejects with `DeviceError` `chardev-failed`. */
  readonly ready: Promise<void>;
  private readonly server: Server;
  private peer: Socket | undefined;
  private readonly connectionListeners = new Set<(connected: boolean) => void>();

  /** Start listening on `path` (a stale socket file there is replaced; a live socket or any other file is an error). */
  constructor(path: string) {
    super();
    this.path = path;
    this.server = createServer((socket) => this.accept(socket));
    this.ready = (async () => {
      try {
        await clearStaleSocket(path);
        await new Promise<void>((resolve, reject) => {
          this.server.once('error', reject);
          this.server.listen(path, () => {
            this.server.off('error', reject);
            // Later server errors (after listen) must not crash the process.
            this.server.on('error', () => {});
            resolve();
          });
        });
      } catch (cause) {
        throw new DeviceError(
          'chardev-failed',
          `chardev socket: cannot listen on ${path}: ${String(cause)}`,
          {
            property: 'chardev',
            value: path,
            cause,
          },
        );
      }
    })();
    // Callers that never await `ready` must not get an unhandled rejection.
    this.ready.catch(() => {});
  }

  /** Create the backend and wait until it listens. */
  static async listen(path: string): Promise<SocketCharBackend> {
    const backend = new SocketCharBackend(path);
    try {
      await backend.ready;
    } catch (e) {
      await backend.close();
      throw e;
    }
    return backend;
  }

  /** Whether a peer is connected. */
  get connected(): boolean {
    return this.peer !== undefined;
  }

  /** Call `listener(true/false)` when a peer connects or leaves; returns unsubscribe. */
  onConnectionChange(listener: (connected: boolean) => void): () => void {
    this.connectionListeners.add(listener);
    return () => this.connectionListeners.delete(listener);
  }

  write(data: Uint8Array): void {
    if (this.peer === undefined || this.peer.destroyed) return;
    this.peer.write(data.slice());
  }

  protected override onInputAboveHighWater(): void {
    this.peer?.pause();
  }

  protected override onInputBelowHighWater(): void {
    this.peer?.resume();
  }

  override async close(): Promise<void> {
    if (this.closed) return;
    await super.close();
    this.peer?.destroy();
    this.peer = undefined;
    // Closing a listening UNIX server removes its socket file.
    if (this.server.listening) await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.connectionListeners.clear();
  }

  private accept(socket: Socket): void {
    if (this.closed || this.peer !== undefined) {
      socket.destroy();
      return;
    }
    this.peer = socket;
    socket.on('data', (chunk: Buffer) => this.pushInput(new Uint8Array(chunk)));
    socket.on('error', () => {});
    socket.on('close', () => {
      if (this.peer !== socket) return;
      this.peer = undefined;
      this.dropInput();
      for (const l of this.connectionListeners) l(false);
    });
    for (const l of this.connectionListeners) l(true);
  }
}

/**
 * Make `path` free for a new listening socket: nothing there is fine; a socket file nobody listens
 * on (left by a crashed process) is removed; a socket somebody listens on, or any other file, is
 * an error (as QEMU's "Address already in use").
 */
async function clearStaleSocket(path: string): Promise<void> {
  let stat: ReturnType<typeof lstatSync>;
  try {
    stat = lstatSync(path);
  } catch {
    return;
  }
  if (!stat.isSocket()) throw new Error(`${path} exists and is not a socket`);
  const live = await new Promise<boolean>((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) throw new Error(`${path} is in use by another listener`);
  unlinkSync(path);
}
