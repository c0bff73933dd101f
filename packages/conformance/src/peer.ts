/**
 * A raw vfio-user peer on @vfu/sys's socket: sends any bytes (malformed ones included) with any
 * fds, and reads whole messages back. The checks build their messages byte by byte, so nothing
 * between them and the wire validates or corrects what they send.
 */
import { type FdLike, type OwnedFd, UnixSocket } from '@vfu/sys';

export const HEADER_SIZE = 16;
export const FLAG_REPLY = 0x1;
export const FLAG_NO_REPLY = 0x10;
export const FLAG_ERROR = 0x20;

/** A received message. */
export interface RawMessage {
  msgId: number;
  command: number;
  msgSize: number;
  flags: number;
  errorNo: number;
  payload: Uint8Array;
  fds: OwnedFd[];
}

/** What a receive produced. */
export type Received = RawMessage | 'closed' | 'timeout';

/** Builds one message: header fields (msg_size computed unless given) and payload. */
export function message(
  fields: { msgId: number; command: number; flags?: number; errorNo?: number; msgSize?: number },
  payload: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE + payload.byteLength);
  const v = new DataView(out.buffer);
  v.setUint16(0, fields.msgId, true);
  v.setUint16(2, fields.command, true);
  v.setUint32(4, fields.msgSize ?? out.byteLength, true);
  v.setUint32(8, fields.flags ?? 0, true);
  v.setUint32(12, fields.errorNo ?? 0, true);
  out.set(payload, HEADER_SIZE);
  return out;
}

/** Little-endian payload builder: `le(['u32', 16], ['u64', 0n])`. */
export function le(
  ...fields: (['u8' | 'u16' | 'u32', number] | ['u64', bigint | number] | ['bytes', Uint8Array])[]
): Uint8Array {
  let size = 0;
  for (const [t, v] of fields)
    size +=
      t === 'u8' ? 1 : t === 'u16' ? 2 : t === 'u32' ? 4 : t === 'u64' ? 8 : (v as Uint8Array).byteLength;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const [t, v] of fields) {
    switch (t) {
      case 'u8':
        view.setUint8(at, v as number);
        at += 1;
        break;
      case 'u16':
        view.setUint16(at, v as number, true);
        at += 2;
        break;
      case 'u32':
        view.setUint32(at, (v as number) >>> 0, true);
        at += 4;
        break;
      case 'u64':
        view.setBigUint64(at, BigInt.asUintN(64, BigInt(v as number)), true);
        at += 8;
        break;
      default:
        out.set(v as Uint8Array, at);
        at += (v as Uint8Array).byteLength;
    }
  }
  return out;
}

/** Handles a command the server sends (DMA_READ/DMA_WRITE); returns the reply payload or an errno. */
export type ServerCommandHandler = (m: RawMessage) => Uint8Array | number;

/** One connection to a server under test. */
export class RawPeer {
  readonly #socket: UnixSocket;
  #buffer = new Uint8Array(0);
  #fds: OwnedFd[] = [];
  #closed = false;
  #wake: (() => void) | undefined;
  #nextId = 1;
  /** Server commands seen while waiting for replies. */
  readonly serverCommands: RawMessage[] = [];
  onServerCommand: ServerCommandHandler | undefined;

  private constructor(socket: UnixSocket) {
    this.#socket = socket;
    socket.onReadable(() => this.#read());
  }

  /** A peer over an accepted socket (the scripted server's side). */
  static over(socket: UnixSocket): RawPeer {
    return new RawPeer(socket);
  }

  static async connect(path: string, timeoutMs = 5000): Promise<RawPeer> {
    return new RawPeer(await UnixSocket.connect(path, { timeoutMs }));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** A fresh msg_id (wrapping within u16, skipping 0 for readability). */
  nextId(): number {
    const id = this.#nextId;
    this.#nextId = (this.#nextId % 0xffff) + 1;
    return id;
  }

  /** Sends raw bytes with fds; false when the socket refused them (peer gone). */
  async send(bytes: Uint8Array, fds: readonly FdLike[] = []): Promise<boolean> {
    let at = 0;
    let first = true;
    while (at < bytes.byteLength) {
      let n: number;
      try {
        n = this.#socket.sendmsg(bytes.subarray(at), first ? fds : []);
      } catch {
        return false;
      }
      if (n > 0) first = false;
      at += n;
      if (at < bytes.byteLength) {
        await new Promise<void>((resolve) =>
          this.#socket.onWritable(() => {
            this.#socket.onWritable(null);
            resolve();
          }),
        );
      }
    }
    return true;
  }

  /** Half-closes or closes. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const fd of this.#fds.splice(0)) fd.close();
    try {
      this.#socket.close();
    } catch {
      // already closed
    }
    this.#wake?.();
  }

  #read(): void {
    const chunk = new Uint8Array(64 * 1024);
    for (;;) {
      let r: ReturnType<UnixSocket['recvmsg']>;
      try {
        r = this.#socket.recvmsg(chunk, 16);
      } catch {
        this.#eof();
        return;
      }
      if (r === null) break;
      if (r.bytes === 0) {
        this.#eof();
        return;
      }
      const next = new Uint8Array(this.#buffer.byteLength + r.bytes);
      next.set(this.#buffer);
      next.set(chunk.subarray(0, r.bytes), this.#buffer.byteLength);
      this.#buffer = next;
      this.#fds.push(...r.fds);
      if (r.bytes < chunk.byteLength) break;
    }
    this.#wake?.();
  }

  #eof(): void {
    this.#socket.onReadable(null);
    this.#closed = true;
    this.#wake?.();
  }

  /** The next whole message, `closed` when the peer closed, `timeout` after `timeoutMs`. */
  async receive(timeoutMs = 2000): Promise<Received> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const m = this.#take();
      if (m !== undefined) return m;
      if (this.#closed) return 'closed';
      const left = deadline - performance.now();
      if (left <= 0) return 'timeout';
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  #take(): RawMessage | undefined {
    if (this.#buffer.byteLength < HEADER_SIZE) return undefined;
    const v = new DataView(this.#buffer.buffer, this.#buffer.byteOffset);
    const msgSize = v.getUint32(4, true);
    const size = Math.max(HEADER_SIZE, msgSize);
    if (this.#buffer.byteLength < size) return undefined;
    const m: RawMessage = {
      msgId: v.getUint16(0, true),
      command: v.getUint16(2, true),
      msgSize,
      flags: v.getUint32(8, true),
      errorNo: v.getUint32(12, true),
      payload: this.#buffer.slice(HEADER_SIZE, size),
      // fds arrive with the first byte of their message; messages are taken in order.
      fds: this.#fds.splice(0),
    };
    this.#buffer = this.#buffer.slice(size);
    return m;
  }

  /**
   * Waits for the reply to `msgId`, answering server commands (DMA_READ/DMA_WRITE) on the way.
   * Replies to other ids are returned too when `anyReply` (ordering checks look at them).
   */
  async reply(msgId: number | undefined, timeoutMs = 2000): Promise<Received> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const r = await this.receive(Math.max(1, deadline - performance.now()));
      if (typeof r === 'string') return r;
      if ((r.flags & 0xf) === 0) {
        this.serverCommands.push(r);
        const answer = this.onServerCommand?.(r) ?? 22;
        const fields = { msgId: r.msgId, command: r.command, flags: FLAG_REPLY };
        await this.send(
          typeof answer === 'number'
            ? message({ ...fields, flags: FLAG_REPLY | FLAG_ERROR, errorNo: answer })
            : message(fields, answer),
        );
        continue;
      }
      if (msgId === undefined || r.msgId === msgId) return r;
      for (const fd of r.fds) fd.close();
    }
  }

  /** Sends a command and waits for its reply. */
  async call(
    command: number,
    payload: Uint8Array = new Uint8Array(0),
    opts: { fds?: readonly FdLike[]; flags?: number; timeoutMs?: number } = {},
  ): Promise<Received> {
    const msgId = this.nextId();
    if (!(await this.send(message({ msgId, command, flags: opts.flags ?? 0 }, payload), opts.fds ?? [])))
      return 'closed';
    return this.reply(msgId, opts.timeoutMs);
  }
}
