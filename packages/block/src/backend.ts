import { BlockError, type BlockErrorCode, errnoNameOf, isBlockError } from './errors';
import { type IoVector, ioVectorLength } from './io-vector';
import { InflightLimiter } from './limiter';

/** Flags of a write. */
export interface WriteFlags {
  /** Force Unit Access: the data is on stable storage when the promise resolves. */
  fua?: boolean;
}

/** Flags of a write-zeroes. */
export interface WriteZeroesFlags extends WriteFlags {
  /** The range may be deallocated instead of written (it must still read back as zeros). */
  mayUnmap?: boolean;
}

/** What a backend can do beyond read and write; devices advertise features from it. */
export interface BlockCapabilities {
  /** `discard` reaches the storage (false: it is accepted and ignored). */
  discard: boolean;
  /** The data of a completed write may sit in a volatile cache until `flush` (a write cache). */
  writeCache: boolean;
  /** FUA is honoured natively or by flushing after the write. */
  fua: boolean;
}

/**
 * A block device's storage, as a device model sees it. Every method is asynchronous and never
 * blocks the event loop; at most `queueDepth` requests run at once, others wait in order.
 * Offsets and lengths are bytes (safe integers); requests must lie inside `[0, size)`.
 * Failures reject with a {@link BlockError} whose `errno` (`EIO`, `ENOSPC`, `EROFS`, `EINVAL`...)
 * the device maps to its own status codes.
 */
export interface BlockBackend {
  /** The QEMU driver name: `"file"`, `"null-co"`, `"nbd"`. */
  readonly driver: string;
  /** Size in bytes. */
  readonly size: number;
  /** Writes, write-zeroes and discards fail with `read-only` (EROFS). */
  readonly readOnly: boolean;
  /** Smallest addressable unit the storage wants (bytes); requests are best aligned to it. */
  readonly logicalBlockSize: number;
  /** The storage's own block size (bytes); writes smaller than it may cost a read-modify-write. */
  readonly physicalBlockSize: number;
  /** Largest request the backend accepts in one call without splitting it itself, in bytes. */
  readonly maxTransfer: number;
  /** Requests allowed in flight at once. */
  readonly queueDepth: number;
  /** Requests in flight now. */
  readonly inFlight: number;
  readonly capabilities: Readonly<BlockCapabilities>;
  readonly closed: boolean;
  /** Reads `ioVectorLength(iov)` bytes at `offset` into the views of `iov` (preadv). */
  readv(offset: number, iov: IoVector): Promise<void>;
  /** Writes the views of `iov`, in order, at `offset` (pwritev). */
  writev(offset: number, iov: IoVector, flags?: WriteFlags): Promise<void>;
  /** Makes every completed write durable (fdatasync, NBD FLUSH). */
  flush(): Promise<void>;
  /** Makes `[offset, offset + length)` read as zeros. */
  writeZeroes(offset: number, length: number, flags?: WriteZeroesFlags): Promise<void>;
  /** Tells the storage `[offset, offset + length)` is unused; its contents become unspecified. */
  discard(offset: number, length: number): Promise<void>;
  /**
   * Stops accepting requests, waits for those in flight, then releases the storage (closes the
   * file, says goodbye to the NBD server). Safe to call twice.
   */
  close(): Promise<void>;
}

/** Options every driver shares. */
export interface CommonBackendOptions {
  /** Open read-only (QEMU `read-only=on`). */
  readOnly?: boolean;
  /** Requests in flight at once (default {@link DEFAULT_QUEUE_DEPTH}). */
  queueDepth?: number;
}

/** Default bound of requests in flight per backend. */
export const DEFAULT_QUEUE_DEPTH = 64;

/**
 * The checks and bookkeeping every driver shares: range, read-only, closed, the in-flight bound
 * and error typing. Drivers implement the `do*` methods and may assume valid arguments.
 */
export abstract class BlockBackendBase implements BlockBackend {
  abstract readonly driver: string;
  abstract readonly size: number;
  abstract readonly logicalBlockSize: number;
  abstract readonly physicalBlockSize: number;
  abstract readonly maxTransfer: number;
  abstract readonly capabilities: Readonly<BlockCapabilities>;
  readonly readOnly: boolean;
  readonly #limiter: InflightLimiter;
  #closed = false;
  #closing: Promise<void> | undefined;

  protected constructor(options: CommonBackendOptions) {
    this.readOnly = options.readOnly ?? false;
    const depth = options.queueDepth ?? DEFAULT_QUEUE_DEPTH;
    if (!Number.isSafeInteger(depth) || depth < 1) {
      throw new BlockError('invalid-option', `queue-depth must be a positive integer, got ${depth}`, {
        option: 'queue-depth',
      });
    }
    this.#limiter = new InflightLimiter(depth);
  }

  get queueDepth(): number {
    return this.#limiter.limit;
  }

  get inFlight(): number {
    return this.#limiter.active;
  }

  get closed(): boolean {
    return this.#closed;
  }

  protected abstract doRead(offset: number, iov: IoVector, length: number): Promise<void>;
  protected abstract doWrite(offset: number, iov: IoVector, length: number, fua: boolean): Promise<void>;
  protected abstract doFlush(): Promise<void>;
  protected abstract doWriteZeroes(offset: number, length: number, flags: WriteZeroesFlags): Promise<void>;
  protected abstract doDiscard(offset: number, length: number): Promise<void>;
  protected abstract doClose(): Promise<void>;

  /** Alignment requests must honour (1: any byte). */
  protected get requestAlignment(): number {
    return 1;
  }

  readv(offset: number, iov: IoVector): Promise<void> {
    const length = ioVectorLength(iov);
    return this.#submit('read', offset, length, false, () => this.doRead(offset, iov, length));
  }

  writev(offset: number, iov: IoVector, flags: WriteFlags = {}): Promise<void> {
    const length = ioVectorLength(iov);
    return this.#submit('write', offset, length, true, () =>
      this.doWrite(offset, iov, length, flags.fua ?? false),
    );
  }

  flush(): Promise<void> {
    return this.#submit('flush', 0, 0, false, () => this.doFlush());
  }

  writeZeroes(offset: number, length: number, flags: WriteZeroesFlags = {}): Promise<void> {
    return this.#submit('write-zeroes', offset, length, true, () =>
      this.doWriteZeroes(offset, length, flags),
    );
  }

  discard(offset: number, length: number): Promise<void> {
    return this.#submit('discard', offset, length, true, () => this.doDiscard(offset, length));
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#closing = this.#limiter.drain().then(() => this.doClose());
    return this.#closing;
  }

  /** Builds a BlockError with this backend's driver and the request's context. */
  protected error(
    code: BlockErrorCode,
    message: string,
    context: { op?: string; offset?: number; length?: number; errnoName?: string; cause?: unknown } = {},
  ): BlockError {
    return new BlockError(code, `${this.driver}: ${message}`, { driver: this.driver, ...context });
  }

  /** Turns whatever a driver threw into a typed io-failed error with the request's context. */
  protected ioError(op: string, offset: number, length: number, cause: unknown): BlockError {
    if (isBlockError(cause)) return cause;
    const errnoName = errnoNameOf(cause) ?? 'EIO';
    const detail = cause instanceof Error ? cause.message : String(cause);
    return this.error('io-failed', `${op} of ${length} bytes at offset ${offset} failed: ${detail}`, {
      op,
      offset,
      length,
      errnoName,
      cause,
    });
  }

  async #submit(
    op: string,
    offset: number,
    length: number,
    writes: boolean,
    run: () => Promise<void>,
  ): Promise<void> {
    if (this.#closed) throw this.error('closed', `${op} after close`, { op, offset, length });
    if (writes && this.readOnly) {
      throw this.error('read-only', `${op} on a read-only node`, { op, offset, length });
    }
    if (
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > this.size
    ) {
      throw this.error(
        'out-of-range',
        `${op} of ${length} bytes at offset ${offset} is outside the node (size ${this.size})`,
        { op, offset, length },
      );
    }
    const align = this.requestAlignment;
    if (align > 1 && (offset % align !== 0 || length % align !== 0)) {
      throw this.error(
        'unaligned',
        `${op} of ${length} bytes at offset ${offset} is not aligned to ${align} bytes`,
        { op, offset, length },
      );
    }
    if (length === 0 && op !== 'flush') return;
    await this.#limiter.run(async () => {
      try {
        await run();
      } catch (cause) {
        throw this.ioError(op, offset, length, cause);
      }
    });
  }
}
