import { setTimeout as sleep } from 'node:timers/promises';
import {
  BlockBackendBase,
  type BlockCapabilities,
  type CommonBackendOptions,
  type WriteZeroesFlags,
} from '../../backend';
import { BlockError, isBlockError } from '../../errors';
import { type IoVector, sliceIoVector } from '../../io-vector';
import type { DiscardMode } from '../file';
import { type NbdAddress, NbdConnection, type NbdExportInfo } from './connection';
import * as P from './protocol';

/** Options of the `nbd` driver (QEMU's names in the comments). */
export interface NbdOptions extends CommonBackendOptions {
  /** `server.type=unix,server.path=...` or `server.type=inet,server.host=...,server.port=...`. */
  server: NbdAddress;
  /** `export` (default: the server's default export, the empty name). */
  export?: string;
  /** `open-timeout`: seconds to keep retrying the first connection (default 0: try once). */
  openTimeout?: number;
  /**
   * `reconnect-delay`: seconds a request waits for the connection to come back before failing
   * (default 0: requests fail at once while disconnected). Requests cut off by the disconnection
   * are sent again once reconnected, as QEMU does.
   */
  reconnectDelay?: number;
  /** `discard=unmap` (default here) sends TRIM when the server takes it; `ignore` drops discards. */
  discard?: DiscardMode;
}

/** Largest TRIM / WRITE_ZEROES length per request (the length field is 32 bits). */
const MAX_ZERO_OR_TRIM = 1 << 30;
/** Bytes of zeros sent per write when the server has no WRITE_ZEROES. */
const ZERO_CHUNK = 1 << 20;
/** First and longest pause between background reconnection attempts (doubling in between). */
const RECONNECT_FIRST_MS = 250;
const RECONNECT_MAX_MS = 8000;

/**
 * QEMU's `nbd` driver: an NBD client (fixed newstyle handshake with NBD_OPT_GO, falling back to
 * NBD_OPT_EXPORT_NAME; structured replies when offered; READ, WRITE, FLUSH, TRIM, WRITE_ZEROES,
 * FUA), with up to `queueDepth` requests in flight on one connection, matched by cookie.
 *
 * When the server goes away, every request in flight and every later one fails with a
 * disconnected BlockError (errno EIO); nothing hangs. Meanwhile the backend tries to connect
 * again in the background (after 250 ms, then doubling up to 8 s, as QEMU's client keeps
 * trying), and serves again once the server is back; `reconnect()` tries at once. With
 * `reconnectDelay`, requests wait that long for the connection instead of failing. The export
 * must keep its size.
 */
export class NbdBackend extends BlockBackendBase {
  readonly driver = 'nbd';
  readonly address: NbdAddress;
  readonly exportName: string;
  readonly size: number;
  readonly logicalBlockSize: number;
  readonly physicalBlockSize: number;
  readonly maxTransfer: number;
  readonly capabilities: BlockCapabilities;
  readonly discardMode: DiscardMode;
  #conn: NbdConnection;
  #reconnecting: Promise<void> | undefined;
  #zeros: Uint8Array | undefined;
  readonly #reconnectDelayMs: number;
  #disconnectedAt = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #waiters: Array<() => void> = [];

  private constructor(conn: NbdConnection, options: NbdOptions) {
    super({ ...options, readOnly: (options.readOnly ?? false) || readOnlyExport(conn.info) });
    this.#conn = conn;
    this.#watch(conn);
    this.#reconnectDelayMs = (options.reconnectDelay ?? 0) * 1000;
    this.address = options.server;
    this.exportName = options.export ?? '';
    this.discardMode = options.discard ?? 'unmap';
    const info = conn.info;
    this.size = info.size;
    this.logicalBlockSize = Math.max(512, info.minimumBlockSize);
    this.physicalBlockSize = Math.max(this.logicalBlockSize, info.preferredBlockSize);
    this.maxTransfer = info.maximumPayload;
    this.capabilities = {
      discard: this.discardMode === 'unmap' && (info.flags & P.NBD_FLAG_SEND_TRIM) !== 0,
      writeCache: (info.flags & P.NBD_FLAG_SEND_FLUSH) !== 0,
      fua: (info.flags & (P.NBD_FLAG_SEND_FUA | P.NBD_FLAG_SEND_FLUSH)) !== 0,
    };
  }

  /** Connects and negotiates; rejects with an open-failed BlockError that says why. */
  static async open(options: NbdOptions): Promise<NbdBackend> {
    const exportName = options.export ?? '';
    const deadline = Date.now() + (options.openTimeout ?? 0) * 1000;
    for (;;) {
      try {
        const conn = await NbdConnection.connect(options.server, exportName);
        if (readOnlyExport(conn.info) && !options.readOnly) {
          await conn.disconnect();
          throw new BlockError(
            'open-failed',
            `nbd: export '${exportName}' is read-only; open it with read-only=on`,
            {
              driver: 'nbd',
              op: 'open',
              option: 'read-only',
              errnoName: 'EROFS',
            },
          );
        }
        return new NbdBackend(conn, options);
      } catch (e) {
        // open-timeout: the server may still be starting; refused connections are retried.
        const retry =
          isBlockError(e) && e.code === 'open-failed' && e.context.option?.startsWith('server.') === true;
        if (!retry || Date.now() >= deadline) throw e;
        await sleep(Math.min(1000, Math.max(1, deadline - Date.now())));
      }
    }
  }

  /** Details of the current connection (size, flags, block sizes, structured replies). */
  get exportInfo(): Readonly<NbdExportInfo> {
    return this.#conn.info;
  }

  /** True while the connection is up. */
  get connected(): boolean {
    return !this.#conn.dead;
  }

  /**
   * Opens a new connection when the old one is gone (server restarted). The export must have
   * the same size. Rejects as `open` does; a no-op while connected.
   */
  reconnect(): Promise<void> {
    if (this.closed)
      return Promise.reject(this.error('closed', 'reconnect after close', { op: 'reconnect' }));
    if (!this.#conn.dead) return Promise.resolve();
    this.#reconnecting ??= (async () => {
      try {
        const conn = await NbdConnection.connect(this.address, this.exportName);
        if (conn.info.size !== this.size) {
          conn.destroy();
          throw this.error(
            'open-failed',
            `export '${this.exportName}' is now ${conn.info.size} bytes, was ${this.size}; add the node again`,
            { op: 'reconnect', errnoName: 'EINVAL' },
          );
        }
        if (this.closed) {
          conn.destroy();
          throw this.error('closed', 'reconnect after close', { op: 'reconnect' });
        }
        this.#conn = conn;
        this.#watch(conn);
        this.#wakeWaiters();
      } finally {
        this.#reconnecting = undefined;
      }
    })();
    return this.#reconnecting;
  }

  /** Stops reconnecting and wakes requests waiting for the connection, then closes as usual. */
  override close(): Promise<void> {
    const closing = super.close();
    clearTimeout(this.#retryTimer);
    this.#wakeWaiters();
    return closing;
  }

  /** Reconnects in the background when `conn` goes away by itself. */
  #watch(conn: NbdConnection): void {
    conn.onDisconnect((reason) => {
      if (this.closed || conn !== this.#conn || reason.code === 'closed') return;
      this.#disconnectedAt = Date.now();
      this.#scheduleReconnect(RECONNECT_FIRST_MS);
    });
  }

  #scheduleReconnect(ms: number): void {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.closed || !this.#conn.dead) return;
      this.reconnect().catch(() => {
        if (!this.closed && this.#conn.dead) this.#scheduleReconnect(Math.min(ms * 2, RECONNECT_MAX_MS));
      });
    }, ms);
    // A server that never returns must not keep the process alive.
    this.#retryTimer.unref();
  }

  #wakeWaiters(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  /**
   * Runs `op`; when it fails because the connection dropped and `reconnectDelay` allows, waits
   * for the connection to return and runs it again (a whole request is idempotent: same data,
   * same place).
   */
  async #retrying(op: () => Promise<void>): Promise<void> {
    for (;;) {
      try {
        return await op();
      } catch (e) {
        if (this.#reconnectDelayMs === 0 || this.closed || !isBlockError(e) || e.code !== 'disconnected')
          throw e;
        const deadline = (this.#conn.dead ? this.#disconnectedAt : Date.now()) + this.#reconnectDelayMs;
        if (!(await this.#waitConnected(deadline))) throw e;
      }
    }
  }

  /** Resolves true once connected, false at `deadline` or on close. */
  async #waitConnected(deadline: number): Promise<boolean> {
    while (this.#conn.dead) {
      const left = deadline - Date.now();
      if (left <= 0 || this.closed) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return !this.closed;
  }

  protected override get requestAlignment(): number {
    return this.#conn.info.minimumBlockSize;
  }

  protected doRead(offset: number, iov: IoVector, length: number): Promise<void> {
    return this.#retrying(() => this.#read(offset, iov, length));
  }

  protected doWrite(offset: number, iov: IoVector, length: number, fua: boolean): Promise<void> {
    return this.#retrying(() => this.#write(offset, iov, length, fua));
  }

  protected doFlush(): Promise<void> {
    return this.#retrying(() => this.#flush());
  }

  protected doDiscard(offset: number, length: number): Promise<void> {
    return this.#retrying(() => this.#discard(offset, length));
  }

  protected doWriteZeroes(offset: number, length: number, flags: WriteZeroesFlags): Promise<void> {
    return this.#retrying(() => this.#writeZeroes(offset, length, flags));
  }

  #read(offset: number, iov: IoVector, length: number): Promise<void> {
    return this.#chunked(length, this.maxTransfer, (at, n) =>
      this.#conn.request(
        P.NBD_CMD_READ,
        0,
        offset + at,
        n,
        at === 0 && n === length ? iov : sliceIoVector(iov, at, n),
      ),
    );
  }

  async #write(offset: number, iov: IoVector, length: number, fua: boolean): Promise<void> {
    const flags = fua && this.#has(P.NBD_FLAG_SEND_FUA) ? P.NBD_CMD_FLAG_FUA : 0;
    await this.#chunked(length, this.maxTransfer, (at, n) =>
      this.#conn.request(
        P.NBD_CMD_WRITE,
        flags,
        offset + at,
        n,
        at === 0 && n === length ? iov : sliceIoVector(iov, at, n),
      ),
    );
    if (fua && flags === 0) await this.#flush();
  }

  async #flush(): Promise<void> {
    // Without NBD_FLAG_SEND_FLUSH the server has no volatile cache: nothing to do, if connected.
    if (this.#has(P.NBD_FLAG_SEND_FLUSH) || this.#conn.dead)
      await this.#conn.request(P.NBD_CMD_FLUSH, 0, 0, 0);
  }

  async #discard(offset: number, length: number): Promise<void> {
    if (!this.capabilities.discard) return;
    await this.#chunked(length, MAX_ZERO_OR_TRIM, (at, n) =>
      this.#conn.request(P.NBD_CMD_TRIM, 0, offset + at, n),
    );
  }

  async #writeZeroes(offset: number, length: number, flags: WriteZeroesFlags): Promise<void> {
    const fua = flags.fua ?? false;
    if (this.#has(P.NBD_FLAG_SEND_WRITE_ZEROES)) {
      const unmap = (flags.mayUnmap ?? false) && this.discardMode === 'unmap';
      const cmdFlags =
        (unmap ? 0 : P.NBD_CMD_FLAG_NO_HOLE) |
        (fua && this.#has(P.NBD_FLAG_SEND_FUA) ? P.NBD_CMD_FLAG_FUA : 0);
      await this.#chunked(length, MAX_ZERO_OR_TRIM, (at, n) =>
        this.#conn.request(P.NBD_CMD_WRITE_ZEROES, cmdFlags, offset + at, n),
      );
      if (fua && (cmdFlags & P.NBD_CMD_FLAG_FUA) === 0) await this.#flush();
      return;
    }
    this.#zeros ??= new Uint8Array(Math.min(ZERO_CHUNK, this.maxTransfer));
    const zeros = this.#zeros;
    await this.#chunked(length, zeros.length, (at, n) =>
      this.#conn.request(P.NBD_CMD_WRITE, 0, offset + at, n, zeros.subarray(0, n)),
    );
    if (fua) await this.#flush();
  }

  protected async doClose(): Promise<void> {
    await this.#reconnecting?.catch(() => {});
    await this.#conn.disconnect();
  }

  #has(flag: number): boolean {
    return (this.#conn.info.flags & flag) !== 0;
  }

  /** Splits a request of `length` bytes into requests of at most `max` bytes, sent together. */
  async #chunked(length: number, max: number, send: (at: number, n: number) => Promise<void>): Promise<void> {
    if (length <= max) return send(0, length);
    const parts: Promise<void>[] = [];
    for (let at = 0; at < length; at += max) parts.push(send(at, Math.min(max, length - at)));
    const results = await Promise.allSettled(parts);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}

function readOnlyExport(info: NbdExportInfo): boolean {
  return (info.flags & P.NBD_FLAG_READ_ONLY) !== 0;
}
