/** A raw socket peer for malformed-input tests: sends arbitrary bytes, collects reply headers. */
import { encodeHeader, HEADER_SIZE, type HeaderInit } from '@vfu/protocol';
import { type FdLike, UnixSocket } from '@vfu/sys';
import { Channel } from '@vfu/transport';
import type { VfioUserServer } from '../../src/index';

export interface RawReply {
  msgId: number;
  command: number;
  msgSize: number;
  flags: number;
  errorNo: number;
  payload: Uint8Array;
}

export class RawPeer {
  readonly socket: UnixSocket;
  #buffer = new Uint8Array(0);
  readonly replies: RawReply[] = [];
  ended = false;
  #waiters: (() => void)[] = [];

  constructor(socket: UnixSocket) {
    this.socket = socket;
    socket.onReadable(() => {
      const buf = new Uint8Array(65536);
      for (;;) {
        let chunk: ReturnType<UnixSocket['recvmsg']>;
        try {
          chunk = socket.recvmsg(buf, 8);
        } catch {
          this.#end();
          return;
        }
        if (chunk === null) break;
        for (const fd of chunk.fds) fd.close();
        if (chunk.bytes === 0) {
          // Replies read in this same wakeup, just before the end of stream, still count.
          this.#parse();
          this.#end();
          return;
        }
        const next = new Uint8Array(this.#buffer.length + chunk.bytes);
        next.set(this.#buffer);
        next.set(buf.subarray(0, chunk.bytes), this.#buffer.length);
        this.#buffer = next;
      }
      this.#parse();
    });
  }

  /** A raw peer attached to `server` through a socketpair. */
  static attach(server: VfioUserServer): RawPeer {
    const [a, b] = UnixSocket.pair();
    server.attach(new Channel(a));
    return new RawPeer(b);
  }

  /** Sends all of `bytes` (fds with the first byte), waiting while the socket is full. */
  async send(bytes: Uint8Array, fds: readonly FdLike[] = []): Promise<void> {
    let done = this.socket.sendmsg(bytes, fds);
    while (done < bytes.length) {
      await new Promise<void>((resolve) => this.socket.onWritable(resolve));
      this.socket.onWritable(null);
      done += this.socket.sendmsg(bytes.subarray(done));
    }
  }

  /** A message with these header fields (msgSize defaults to the real size) and payload. */
  sendMessage(
    h: Partial<HeaderInit> & { command: number; rawFlags?: number },
    payload = new Uint8Array(0),
    fds: readonly FdLike[] = [],
  ) {
    const head = encodeHeader({
      msgId: h.msgId ?? 0x42,
      command: h.command,
      msgSize: HEADER_SIZE + payload.length,
      type: h.type ?? 'command',
      ...(h.noReply ? { noReply: true } : {}),
    });
    const view = new DataView(head.buffer);
    if (h.rawFlags !== undefined) view.setUint32(8, h.rawFlags, true);
    if (h.msgSize !== undefined) view.setUint32(4, h.msgSize, true);
    const all = new Uint8Array(head.length + payload.length);
    all.set(head);
    all.set(payload, head.length);
    return this.send(all, fds);
  }

  /** Waits for `n` replies in total (or end of stream). */
  async waitReplies(n: number, timeoutMs = 2000): Promise<RawReply[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.replies.length < n && !this.ended && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 20);
      });
    }
    return this.replies;
  }

  close(): void {
    this.socket.close();
  }

  #end(): void {
    this.ended = true;
    this.socket.onReadable(null);
    for (const w of this.#waiters.splice(0)) w();
  }

  #parse(): void {
    while (this.#buffer.length >= HEADER_SIZE) {
      const v = new DataView(this.#buffer.buffer, this.#buffer.byteOffset, this.#buffer.length);
      const msgSize = v.getUint32(4, true);
      if (this.#buffer.length < msgSize) break;
      this.replies.push({
        msgId: v.getUint16(0, true),
        command: v.getUint16(2, true),
        msgSize,
        flags: v.getUint32(8, true),
        errorNo: v.getUint32(12, true),
        payload: this.#buffer.slice(HEADER_SIZE, msgSize),
      });
      this.#buffer = this.#buffer.slice(msgSize);
    }
    for (const w of this.#waiters.splice(0)) w();
  }
}

/** VERSION request bytes (0.2, no JSON). */
export const VERSION_0_2 = Uint8Array.of(0, 0, 2, 0);
