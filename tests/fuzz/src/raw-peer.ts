/**
 * The other end of a vfio-user connection, driven byte by byte: sends whatever it is given (with
 * fds) and cuts what comes back into messages, closing every fd received. Used as a hostile client
 * against the server and as a hostile server against the client.
 */
import { HEADER_SIZE } from '@vfu/protocol';
import type { FdLike, UnixSocket } from '@vfu/sys';

/** A message received whole: its bytes (header included) and how many fds came with it. */
export interface PeerMessage {
  bytes: Uint8Array;
  fds: number;
}

export class RawPeer {
  readonly socket: UnixSocket;
  /** Set when the other side closed the connection (or it failed). */
  ended = false;
  /** Called for each whole message, in order. */
  onMessage: (m: PeerMessage) => void = () => {};
  #buffer: Uint8Array = new Uint8Array(0);
  #pendingFds = 0;
  #waiters: (() => void)[] = [];
  readonly #scratch = new Uint8Array(1 << 16);

  constructor(socket: UnixSocket) {
    this.socket = socket;
    socket.onReadable(() => this.#read());
  }

  /** Sends all of `bytes`, the fds with the first byte, waiting while the socket is full. */
  async send(bytes: Uint8Array, fds: readonly FdLike[] = []): Promise<void> {
    let done = 0;
    let pending = fds;
    while (!this.ended && done < bytes.length) {
      let n: number;
      try {
        n = this.socket.sendmsg(bytes.subarray(done), pending);
      } catch {
        // The other side hung up (EPIPE) or reset: what was not sent is lost, as on a real socket.
        this.#end();
        return;
      }
      if (n > 0) pending = [];
      done += n;
      if (done < bytes.length) {
        await new Promise<void>((resolve) => {
          this.socket.onWritable(() => {
            this.socket.onWritable(null);
            resolve();
          });
          this.#waiters.push(resolve);
        });
      }
    }
  }

  /** Resolves at the next message or end of stream, or after `ms`. */
  wait(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  close(): void {
    this.#end();
    this.socket.close();
  }

  #read(): void {
    for (;;) {
      let chunk: ReturnType<UnixSocket['recvmsg']>;
      try {
        chunk = this.socket.recvmsg(this.#scratch, 16);
      } catch {
        this.#end();
        return;
      }
      if (chunk === null) break;
      for (const fd of chunk.fds) fd.close();
      this.#pendingFds += chunk.fds.length + chunk.droppedFds;
      if (chunk.bytes === 0) {
        this.#parse();
        this.#end();
        return;
      }
      const next = new Uint8Array(this.#buffer.length + chunk.bytes);
      next.set(this.#buffer);
      next.set(this.#scratch.subarray(0, chunk.bytes), this.#buffer.length);
      this.#buffer = next;
    }
    this.#parse();
  }

  #parse(): void {
    while (this.#buffer.length >= HEADER_SIZE) {
      const size = new DataView(this.#buffer.buffer, this.#buffer.byteOffset).getUint32(4, true);
      if (size < HEADER_SIZE || this.#buffer.length < size) break;
      const bytes = this.#buffer.slice(0, size);
      this.#buffer = this.#buffer.subarray(size);
      const fds = this.#pendingFds;
      this.#pendingFds = 0;
      this.onMessage({ bytes, fds });
    }
    for (const w of this.#waiters.splice(0)) w();
  }

  #end(): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.socket.closed) this.socket.onReadable(null);
    for (const w of this.#waiters.splice(0)) w();
  }
}
