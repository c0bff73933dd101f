import { lstatSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { DeviceError } from '../errors';
import { BufferedCharBackend } from './char-backend';

/**
 * How many connections may wait for their turn while a peer is attached to a
 * {@link SocketCharBackend}; a connection beyond them is closed at once.
 */
export const SOCKET_CHARDEV_MAX_WAITING_PEERS = 16;

/**
 * A backend listening on a UNIX socket (QEMU's `socket,path=...,server=on,wait=off`): one peer
 * at a time is the other end of the line. Connections made while a peer is attached wait their
 * turn, as in QEMU: nothing is read from them or sent to them until the peer leaves, then the
 * oldest takes over (bytes it sent while waiting reach the UART then). Output while nobody is
 * attached is dropped. Input is paused at the socket while the UART has no room. The socket file
 * is removed on close.
 */
export class SocketCharBackend extends BufferedCharBackend {
  readonly kind = 'socket';
  /** Path of the listening socket. */
  readonly path: string;
  /** Resolves once the socket listens; rejects with `DeviceError` `chardev-failed`. */
  readonly ready: Promise<void>;
  private readonly server: Server;
  private peer: Socket | undefined;
  /** Connections waiting for the line, oldest first; paused, so their bytes stay in the kernel. */
  private readonly waiting: Socket[] = [];
  private readonly connectionListeners = new Set<(connected: boolean) => void>();

  /** Start listening on `path` (a stale socket file there is replaced; a live socket or any other file is an error). */
  constructor(path: string) {
    super();
    this.path = path;
    // Node cannot leave connections in the listen backlog, so waiting ones are accepted paused:
    // to their senders that is the same as not accepted yet.
    this.server = createServer({ pauseOnConnect: true }, (socket) => this.accept(socket));
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

  /** Whether a peer is attached. */
  get connected(): boolean {
    return this.peer !== undefined;
  }

  /** Connections waiting for the attached peer to leave. */
  get waitingPeers(): number {
    return this.waiting.length;
  }

  /** Call `listener(true/false)` when a peer is attached or leaves; returns unsubscribe. */
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
    // The server's close waits for every accepted connection, waiting ones included.
    for (const socket of this.waiting.splice(0)) socket.destroy();
    // Closing a listening UNIX server removes its socket file.
    if (this.server.listening) await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.connectionListeners.clear();
  }

  private accept(socket: Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    // A peer that hangs up mid-write must not crash the process; 'close' follows.
    socket.on('error', () => {});
    if (this.peer === undefined) {
      this.attachPeer(socket);
      return;
    }
    if (this.waiting.length >= SOCKET_CHARDEV_MAX_WAITING_PEERS) {
      socket.destroy();
      return;
    }
    socket.once('close', () => {
      const i = this.waiting.indexOf(socket);
      if (i >= 0) this.waiting.splice(i, 1);
    });
    this.waiting.push(socket);
  }

  private attachPeer(socket: Socket): void {
    this.peer = socket;
    socket.on('data', (chunk: Buffer) => this.pushInput(new Uint8Array(chunk)));
    socket.on('close', () => {
      if (this.peer !== socket) return;
      this.peer = undefined;
      this.dropInput();
      for (const l of this.connectionListeners) l(false);
      // A waiting connection whose sender has gone meanwhile is attached too, reads its end of
      // stream and closes, handing the line on: as QEMU accepting it from the backlog.
      const next = this.waiting.shift();
      if (next !== undefined && !this.closed) this.attachPeer(next);
    });
    socket.resume();
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
