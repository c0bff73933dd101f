import * as net from 'node:net';
import { BlockError } from '../../errors';
import { copyIntoIoVector, type IoVector, segmentsOf, zeroIoVector } from '../../io-vector';
import { ByteQueue } from './byte-queue';
import * as P from './protocol';

/** Where the server listens: QEMU's SocketAddress for `server.*`. */
export type NbdAddress = { type: 'unix'; path: string } | { type: 'inet'; host: string; port: string };

/** What the handshake learnt about the export. */
export interface NbdExportInfo {
  size: number;
  /** Transmission flags (NBD_FLAG_*). */
  flags: number;
  /** NBD_INFO_BLOCK_SIZE, when the server sent it. */
  minimumBlockSize: number;
  preferredBlockSize: number;
  maximumPayload: number;
  /** The server uses structured replies for reads. */
  structuredReplies: boolean;
  /** How the export was selected: NBD_OPT_GO or the older NBD_OPT_EXPORT_NAME. */
  negotiatedWith: 'NBD_OPT_GO' | 'NBD_OPT_EXPORT_NAME';
}

/** Largest option reply accepted during the handshake. */
const MAX_OPTION_REPLY = 64 * 1024;
/** Largest non-data structured reply chunk (errors carry a message of at most 4 KiB). */
const MAX_CHUNK_PAYLOAD = 64 * 1024;
/** Default maximum payload when the server does not say (the protocol's recommended limit). */
export const NBD_DEFAULT_MAX_PAYLOAD = 32 * 1024 * 1024;
/** A server that accepts but never finishes the handshake is given up on after this long. */
const HANDSHAKE_TIMEOUT_MS = 30_000;

interface Pending {
  cookie: number;
  type: number;
  offset: number;
  length: number;
  iov: IoVector | undefined;
  resolve: () => void;
  reject: (e: BlockError) => void;
  /** First error chunk of a structured reply; reported once the DONE chunk arrives. */
  error: { errno: string; message: string } | undefined;
}

type ParseState =
  | { kind: 'header' }
  | { kind: 'simple-data'; pending: Pending; at: number; left: number }
  | { kind: 'chunk-data'; pending: Pending; at: number; left: number; done: boolean }
  | { kind: 'chunk'; pending: Pending; type: number; length: number; done: boolean };

function describe(address: NbdAddress): string {
  return address.type === 'unix' ? `unix:${address.path}` : `${address.host}:${address.port}`;
}

/**
 * One NBD client connection: the fixed-newstyle handshake, then requests in flight at once,
 * their replies matched by cookie (simple and structured). When the socket closes every request
 * in flight fails with a disconnected error (errno EIO) and later ones fail at once.
 */
export class NbdConnection {
  readonly address: NbdAddress;
  readonly exportName: string;
  readonly info: NbdExportInfo;
  readonly #socket: net.Socket;
  readonly #queue: ByteQueue;
  readonly #pending = new Map<number, Pending>();
  #state: ParseState = { kind: 'header' };
  #nextCookie = 1;
  #dead: BlockError | undefined;
  #onDisconnect: ((reason: BlockError) => void) | undefined;

  private constructor(
    address: NbdAddress,
    exportName: string,
    socket: net.Socket,
    queue: ByteQueue,
    info: NbdExportInfo,
  ) {
    this.address = address;
    this.exportName = exportName;
    this.#socket = socket;
    this.#queue = queue;
    this.info = info;
    socket.on('data', (chunk: Buffer) => {
      queue.push(chunk);
      this.#parse();
    });
    socket.on('error', (e) => this.#fail(`connection to ${describe(address)} failed: ${e.message}`, e));
    socket.on('close', () => this.#fail(`the NBD server at ${describe(address)} closed the connection`));
    // Bytes that arrived with the end of the handshake.
    if (queue.length > 0) this.#parse();
  }

  /** True once the connection is gone (closed, failed, or disconnected by us). */
  get dead(): boolean {
    return this.#dead !== undefined;
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.#pending.size;
  }

  /** Called once, when the connection goes away for any reason. */
  onDisconnect(callback: (reason: BlockError) => void): void {
    this.#onDisconnect = callback;
  }

  /** Connects and negotiates `exportName`; rejects with an open-failed or protocol-error BlockError. */
  static async connect(address: NbdAddress, exportName: string): Promise<NbdConnection> {
    const socket = await openSocket(address);
    const queue = new ByteQueue();
    try {
      const info = await withTimeout(
        handshake(socket, queue, exportName, address),
        HANDSHAKE_TIMEOUT_MS,
        address,
      );
      socket.removeAllListeners('data');
      socket.removeAllListeners('close');
      socket.removeAllListeners('error');
      return new NbdConnection(address, exportName, socket, queue, info);
    } catch (e) {
      socket.destroy();
      throw e;
    }
  }

  /**
   * Sends one request and resolves when its reply arrives. `iov` is the data of a write (sent
   * from the views as they are) or the destination of a read (filled as the data arrives).
   */
  request(type: number, flags: number, offset: number, length: number, iov?: IoVector): Promise<void> {
    if (this.#dead) return Promise.reject(this.#dead);
    const cookie = this.#nextCookie;
    this.#nextCookie = this.#nextCookie >= 0xffffffff ? 1 : this.#nextCookie + 1;
    return new Promise<void>((resolve, reject) => {
      this.#pending.set(cookie, { cookie, type, offset, length, iov, resolve, reject, error: undefined });
      const header = P.encodeRequest(type, flags, cookie, offset, length);
      if (type === P.NBD_CMD_WRITE && iov) {
        this.#socket.cork();
        this.#socket.write(header);
        for (const s of segmentsOf(iov)) this.#socket.write(s);
        this.#socket.uncork();
      } else {
        this.#socket.write(header);
      }
    });
  }

  /**
   * Says goodbye (NBD_CMD_DISC) and closes the socket once the server has read it. Requests
   * still in flight fail with disconnected; callers drain them first.
   */
  async disconnect(): Promise<void> {
    if (this.#dead) return;
    const socket = this.#socket;
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    this.#fail('disconnected by the client', undefined, 'closed');
    socket.end(P.encodeRequest(P.NBD_CMD_DISC, 0, 0, 0, 0));
    const timer = setTimeout(() => socket.destroy(), 5000);
    await closed;
    clearTimeout(timer);
  }

  /** Drops the connection at once, without NBD_CMD_DISC. */
  destroy(): void {
    this.#fail('connection dropped by the client', undefined, 'closed');
    this.#socket.destroy();
  }

  #fail(
    message: string,
    cause?: unknown,
    code: 'disconnected' | 'closed' | 'protocol-error' = 'disconnected',
  ): void {
    if (this.#dead) return;
    const error = new BlockError(code, `nbd: ${message}`, {
      driver: 'nbd',
      errnoName: code === 'closed' ? 'ESHUTDOWN' : 'EIO',
      ...(cause === undefined ? {} : { cause }),
    });
    this.#dead = error;
    this.#queue.clear();
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) {
      p.reject(
        new BlockError(
          code === 'closed' ? 'disconnected' : code,
          `${error.message}; the request did not complete`,
          {
            driver: 'nbd',
            errnoName: 'EIO',
            offset: p.offset,
            length: p.length,
            cause: error,
          },
        ),
      );
    }
    if (code === 'protocol-error') this.#socket.destroy();
    this.#onDisconnect?.(error);
  }

  #protocolError(message: string): void {
    this.#fail(`protocol error from ${describe(this.address)}: ${message}`, undefined, 'protocol-error');
  }

  /** Consumes as many replies as the received bytes hold. */
  #parse(): void {
    const q = this.#queue;
    while (!this.#dead) {
      const s = this.#state;
      if (s.kind === 'header') {
        if (q.length < 4) return;
        const head = q.take(4);
        const magic = new DataView(head.buffer).getUint32(0);
        if (magic === P.NBD_SIMPLE_REPLY_MAGIC) {
          if (q.length < P.NBD_SIMPLE_REPLY_SIZE - 4) {
            this.#unshift(head);
            return;
          }
          const v = new DataView(q.take(12).buffer);
          const error = v.getUint32(0);
          const pending = this.#take(v.getUint32(4), v.getUint32(8));
          if (!pending) return;
          if (error !== 0) {
            this.#settle(pending, { errno: P.nbdErrno(error), message: `server error ${error}` });
          } else if (pending.type === P.NBD_CMD_READ && pending.length > 0) {
            if (this.info.structuredReplies) {
              this.#protocolError('simple reply with data to a read');
              return;
            }
            this.#state = { kind: 'simple-data', pending, at: 0, left: pending.length };
          } else {
            this.#settle(pending, undefined);
          }
        } else if (magic === P.NBD_STRUCTURED_REPLY_MAGIC) {
          if (q.length < P.NBD_STRUCTURED_REPLY_SIZE - 4) {
            this.#unshift(head);
            return;
          }
          const v = new DataView(q.take(16).buffer);
          const flags = v.getUint16(0);
          const type = v.getUint16(2);
          const cookieHigh = v.getUint32(4);
          const cookie = v.getUint32(8);
          const length = v.getUint32(12);
          const pending = this.#pending.get(cookie);
          if (cookieHigh !== 0 || !pending) {
            this.#protocolError(`reply to unknown cookie ${cookie}`);
            return;
          }
          const done = (flags & P.NBD_REPLY_FLAG_DONE) !== 0;
          if (type === P.NBD_REPLY_TYPE_OFFSET_DATA) {
            if (pending.type !== P.NBD_CMD_READ || length < 8) {
              this.#protocolError('bad OFFSET_DATA chunk');
              return;
            }
            this.#state = { kind: 'chunk', pending, type, length, done };
          } else {
            if (length > MAX_CHUNK_PAYLOAD) {
              this.#protocolError(`reply chunk of ${length} bytes`);
              return;
            }
            this.#state = { kind: 'chunk', pending, type, length, done };
          }
        } else {
          this.#protocolError(`bad reply magic 0x${magic.toString(16)}`);
          return;
        }
      } else if (s.kind === 'simple-data' || s.kind === 'chunk-data') {
        if (q.length === 0) return;
        const n = Math.min(q.length, s.left);
        const iov = s.pending.iov!;
        q.takeInto(n, (piece, at) => copyIntoIoVector(iov, s.at + at, piece));
        s.at += n;
        s.left -= n;
        if (s.left > 0) return;
        this.#state = { kind: 'header' };
        if (s.kind === 'simple-data' || s.done) this.#settle(s.pending, s.pending.error);
      } else {
        // A structured chunk: OFFSET_DATA streams its data; the others are read whole.
        if (s.type === P.NBD_REPLY_TYPE_OFFSET_DATA) {
          if (q.length < 8) return;
          const offset = Number(new DataView(q.take(8).buffer).getBigUint64(0));
          const dataLength = s.length - 8;
          const at = offset - s.pending.offset;
          if (at < 0 || at + dataLength > s.pending.length) {
            this.#protocolError('OFFSET_DATA outside the read');
            return;
          }
          this.#state = { kind: 'chunk-data', pending: s.pending, at, left: dataLength, done: s.done };
          if (dataLength === 0) {
            this.#state = { kind: 'header' };
            if (s.done) this.#settle(s.pending, s.pending.error);
          }
          continue;
        }
        if (q.length < s.length) return;
        const payload = q.take(s.length);
        this.#state = { kind: 'header' };
        if (!this.#chunk(s.pending, s.type, payload)) return;
        if (s.done) this.#settle(s.pending, s.pending.error);
      }
    }
  }

  /** Applies a non-data structured chunk; false after a protocol error. */
  #chunk(pending: Pending, type: number, payload: Uint8Array): boolean {
    const v = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    switch (type) {
      case P.NBD_REPLY_TYPE_NONE:
        return true;
      case P.NBD_REPLY_TYPE_OFFSET_HOLE: {
        if (payload.length !== 12 || pending.type !== P.NBD_CMD_READ) {
          this.#protocolError('bad OFFSET_HOLE chunk');
          return false;
        }
        const at = Number(v.getBigUint64(0)) - pending.offset;
        const size = v.getUint32(8);
        if (at < 0 || at + size > pending.length) {
          this.#protocolError('OFFSET_HOLE outside the read');
          return false;
        }
        zeroIoVector(pending.iov!, at, size);
        return true;
      }
      case P.NBD_REPLY_TYPE_ERROR:
      case P.NBD_REPLY_TYPE_ERROR_OFFSET: {
        if (payload.length < 6) {
          this.#protocolError('short error chunk');
          return false;
        }
        const errno = P.nbdErrno(v.getUint32(0));
        const messageLength = Math.min(v.getUint16(4), payload.length - 6);
        const text = new TextDecoder().decode(payload.subarray(6, 6 + messageLength));
        pending.error ??= {
          errno,
          message: text === '' ? `server error ${errno}` : `server error ${errno}: ${text}`,
        };
        return true;
      }
      default:
        // Unknown informational chunks may be ignored; unknown error chunks (bit 15) are errors.
        if (type & 0x8000) pending.error ??= { errno: 'EINVAL', message: `server error chunk type ${type}` };
        return true;
    }
  }

  #take(cookieHigh: number, cookie: number): Pending | undefined {
    const pending = this.#pending.get(cookie);
    if (cookieHigh !== 0 || !pending) {
      this.#protocolError(`reply to unknown cookie ${cookie}`);
      return undefined;
    }
    return pending;
  }

  /** Completes a request; until then it stays in the map, so a lost connection fails it. */
  #settle(pending: Pending, error: { errno: string; message: string } | undefined): void {
    this.#pending.delete(pending.cookie);
    if (!error) {
      pending.resolve();
      return;
    }
    pending.reject(
      new BlockError('io-failed', `nbd: ${error.message}`, {
        driver: 'nbd',
        errnoName: error.errno,
        offset: pending.offset,
        length: pending.length,
      }),
    );
  }

  /** Puts back a header start that arrived before the rest of the header. */
  #unshift(head: Uint8Array): void {
    const rest = this.#queue.take(this.#queue.length);
    this.#queue.push(head);
    this.#queue.push(rest);
  }
}

// ---- handshake ----------------------------------------------------------------------------------

function openSocket(address: NbdAddress): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket =
      address.type === 'unix'
        ? net.createConnection({ path: address.path })
        : net.createConnection({ host: address.host, port: Number(address.port) });
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      if (address.type === 'inet') socket.setNoDelay(true);
      resolve(socket);
    });
    socket.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new BlockError('open-failed', `nbd: cannot connect to ${describe(address)}: ${e.message}`, {
          driver: 'nbd',
          op: 'open',
          option: address.type === 'unix' ? 'server.path' : 'server.host',
          errnoName: e.code ?? 'EIO',
          cause: e,
        }),
      ),
    );
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, address: NbdAddress): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new BlockError(
            'open-failed',
            `nbd: ${describe(address)} did not finish the handshake in ${ms} ms`,
            {
              driver: 'nbd',
              op: 'open',
              errnoName: 'ETIMEDOUT',
            },
          ),
        ),
      ms,
    );
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Reads exact byte counts from a socket during the handshake. */
class HandshakeReader {
  readonly #queue: ByteQueue;
  #want = 0;
  #wake: (() => void) | undefined;
  #ended: Error | undefined;

  constructor(socket: net.Socket, queue: ByteQueue) {
    this.#queue = queue;
    socket.on('data', (chunk: Buffer) => {
      queue.push(chunk);
      if (queue.length >= this.#want) this.#wake?.();
    });
    const end = (e?: Error) => {
      this.#ended = e ?? new Error('the server closed the connection during the handshake');
      this.#wake?.();
    };
    socket.on('close', () => end());
    socket.on('error', (e) => end(e));
  }

  async read(n: number): Promise<DataView> {
    while (this.#queue.length < n) {
      if (this.#ended) throw this.#ended;
      this.#want = n;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
    const bytes = this.#queue.take(n);
    return new DataView(bytes.buffer);
  }
}

async function handshake(
  socket: net.Socket,
  queue: ByteQueue,
  exportName: string,
  address: NbdAddress,
): Promise<NbdExportInfo> {
  const reader = new HandshakeReader(socket, queue);
  const fail = (message: string, code: 'open-failed' | 'protocol-error' = 'protocol-error', errno?: string) =>
    new BlockError(code, `nbd: ${describe(address)}: ${message}`, {
      driver: 'nbd',
      op: 'open',
      ...(errno === undefined ? {} : { errnoName: errno }),
    });
  const read = (n: number) =>
    reader.read(n).catch((e: Error) => {
      throw new BlockError('open-failed', `nbd: ${describe(address)}: ${e.message}`, {
        driver: 'nbd',
        op: 'open',
        errnoName: 'ECONNRESET',
        cause: e,
      });
    });

  const greeting = await read(16);
  if (greeting.getBigUint64(0) !== P.NBDMAGIC) throw fail('not an NBD server (bad greeting)');
  const style = greeting.getBigUint64(8);
  if (style === P.NBD_OLDSTYLE_MAGIC)
    throw fail('the server speaks the oldstyle handshake, which is not supported');
  if (style !== P.IHAVEOPT) throw fail('bad newstyle magic');
  const serverFlags = (await read(2)).getUint16(0);
  const fixed = (serverFlags & P.NBD_FLAG_FIXED_NEWSTYLE) !== 0;
  const noZeroes = (serverFlags & P.NBD_FLAG_NO_ZEROES) !== 0;
  const clientFlags = new Uint8Array(4);
  new DataView(clientFlags.buffer).setUint32(
    0,
    (fixed ? P.NBD_FLAG_C_FIXED_NEWSTYLE : 0) | (noZeroes ? P.NBD_FLAG_C_NO_ZEROES : 0),
  );
  socket.write(clientFlags);

  const optionReply = async (option: number) => {
    const v = await read(20);
    if (v.getBigUint64(0) !== P.NBD_REP_MAGIC) throw fail('bad option reply magic');
    if (v.getUint32(8) !== option)
      throw fail(`reply to option ${v.getUint32(8)} while waiting for ${option}`);
    const type = v.getUint32(12);
    const length = v.getUint32(16);
    if (length > MAX_OPTION_REPLY) throw fail(`option reply of ${length} bytes`);
    const data = length === 0 ? new DataView(new ArrayBuffer(0)) : await read(length);
    return { type, data };
  };

  let structuredReplies = false;
  if (fixed) {
    socket.write(P.encodeOption(P.NBD_OPT_STRUCTURED_REPLY));
    const r = await optionReply(P.NBD_OPT_STRUCTURED_REPLY);
    structuredReplies = r.type === P.NBD_REP_ACK;
    if (!structuredReplies && (r.type & P.NBD_REP_FLAG_ERROR) === 0)
      throw fail('unexpected reply to NBD_OPT_STRUCTURED_REPLY');

    socket.write(
      P.encodeOption(P.NBD_OPT_GO, P.encodeGoData(exportName, [P.NBD_INFO_EXPORT, P.NBD_INFO_BLOCK_SIZE])),
    );
    let size: number | undefined;
    let flags = 0;
    let block = { min: 1, preferred: 4096, max: NBD_DEFAULT_MAX_PAYLOAD };
    for (;;) {
      const r = await optionReply(P.NBD_OPT_GO);
      if (r.type === P.NBD_REP_INFO) {
        if (r.data.byteLength < 2) throw fail('short NBD_REP_INFO');
        const info = r.data.getUint16(0);
        if (info === P.NBD_INFO_EXPORT && r.data.byteLength === 12) {
          size = Number(r.data.getBigUint64(2));
          flags = r.data.getUint16(10);
        } else if (info === P.NBD_INFO_BLOCK_SIZE && r.data.byteLength === 14) {
          block = { min: r.data.getUint32(2), preferred: r.data.getUint32(6), max: r.data.getUint32(10) };
        }
        continue;
      }
      if (r.type === P.NBD_REP_ACK) {
        if (size === undefined) throw fail('NBD_OPT_GO succeeded without NBD_INFO_EXPORT');
        return {
          size,
          flags,
          minimumBlockSize: block.min,
          preferredBlockSize: block.preferred,
          maximumPayload: block.max,
          structuredReplies,
          negotiatedWith: 'NBD_OPT_GO',
        };
      }
      if (r.type === P.NBD_REP_ERR_UNSUP) break; // an older server: fall back to NBD_OPT_EXPORT_NAME
      const text = new TextDecoder().decode(
        new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength),
      );
      const detail = text === '' ? '' : `: ${text}`;
      if (r.type === P.NBD_REP_ERR_UNKNOWN)
        throw fail(`export '${exportName}' not found${detail}`, 'open-failed', 'ENOENT');
      if (r.type === P.NBD_REP_ERR_TLS_REQD)
        throw fail(`the server requires TLS, which is not supported${detail}`, 'open-failed', 'ENOTSUP');
      if (r.type & P.NBD_REP_FLAG_ERROR) {
        throw fail(
          `export '${exportName}' refused (${P.optionErrorName(r.type)})${detail}`,
          'open-failed',
          'EACCES',
        );
      }
      throw fail(`unexpected reply ${r.type} to NBD_OPT_GO`);
    }
  }

  // NBD_OPT_EXPORT_NAME: no reply on failure, the server just closes.
  socket.write(P.encodeOption(P.NBD_OPT_EXPORT_NAME, new TextEncoder().encode(exportName)));
  const v = await read(10).catch((cause: unknown) => {
    throw new BlockError(
      'open-failed',
      `nbd: ${describe(address)}: export '${exportName}' not found (the server closed the connection)`,
      {
        driver: 'nbd',
        op: 'open',
        errnoName: 'ENOENT',
        cause,
      },
    );
  });
  if (!noZeroes) await read(124);
  return {
    size: Number(v.getBigUint64(0)),
    flags: v.getUint16(8),
    minimumBlockSize: 1,
    preferredBlockSize: 4096,
    maximumPayload: NBD_DEFAULT_MAX_PAYLOAD,
    // Structured replies negotiated above stay in force for the transmission phase.
    structuredReplies,
    negotiatedWith: 'NBD_OPT_EXPORT_NAME',
  };
}
