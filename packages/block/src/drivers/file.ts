import * as fs from 'node:fs';
import { allocAligned, FallocateMode, fallocate as sysFallocate } from '@vfu/sys';
import {
  BlockBackendBase,
  type BlockCapabilities,
  type CommonBackendOptions,
  type WriteZeroesFlags,
} from '../backend';
import { BlockError, errnoNameOf } from '../errors';
import { gatherIoVector, type IoVector, segmentsOf, sliceIoVector, zeroIoVector } from '../io-vector';

/** What QEMU's `discard` option selects: pass discards to the file or drop them. */
export type DiscardMode = 'ignore' | 'unmap';

/** Options of the `file` driver (QEMU's names in the comments). */
export interface FileOptions extends CommonBackendOptions {
  /** Path of a regular file (`filename`). */
  filename: string;
  /** Bypass the page cache with O_DIRECT (`cache.direct=on`). */
  direct?: boolean;
  /** Treat flushes as done without syncing (`cache.no-flush=on`): fast and unsafe, as in QEMU. */
  noFlush?: boolean;
  /** `discard=unmap` (default here) punches holes; `discard=ignore` drops discards. */
  discard?: DiscardMode;
  /** The system calls used; replace them to inject faults in tests. Defaults to {@link nodeFileSyscalls}. */
  syscalls?: FileSyscalls;
}

/**
 * The file operations the driver needs, each asynchronous (libuv's threadpool): Node's fs for
 * preadv/pwritev/fdatasync and `@vfu/sys` for fallocate. Errors carry an errno name as `code`
 * (Node) or `errnoName` (SysError).
 */
export interface FileSyscalls {
  open(path: string, flags: number): Promise<number>;
  readv(fd: number, buffers: readonly Uint8Array[], position: number): Promise<number>;
  writev(fd: number, buffers: readonly Uint8Array[], position: number): Promise<number>;
  fdatasync(fd: number): Promise<void>;
  fallocate(fd: number, mode: number, offset: number, length: number): Promise<void>;
}

/** The real system calls. */
export const nodeFileSyscalls: FileSyscalls = Object.freeze<FileSyscalls>({
  open: (path, flags) =>
    new Promise((resolve, reject) => fs.open(path, flags, (err, fd) => (err ? reject(err) : resolve(fd)))),
  readv: (fd, buffers, position) =>
    new Promise((resolve, reject) =>
      fs.readv(fd, buffers as Uint8Array[], position, (err, n) => (err ? reject(err) : resolve(n))),
    ),
  writev: (fd, buffers, position) =>
    new Promise((resolve, reject) =>
      fs.writev(fd, buffers as Uint8Array[], position, (err, n) => (err ? reject(err) : resolve(n))),
    ),
  fdatasync: (fd) =>
    new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve()))),
  fallocate: (fd, mode, offset, length) => sysFallocate(fd, mode, offset, length),
});

/** Bytes of zeros written per call when zeroing cannot use fallocate. */
const ZERO_CHUNK = 1 << 20;
/** O_DIRECT buffers and offsets are aligned to this (the largest logical block size in use). */
const DIRECT_ALIGNMENT = 4096;

/** True when an error means "this filesystem or machine cannot do that fallocate mode". */
function unsupported(error: unknown): boolean {
  const errno = errnoNameOf(error);
  if (errno === 'EOPNOTSUPP' || errno === 'ENOTSUP' || errno === 'ENOSYS') return true;
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === 'ADDON_NOT_BUILT' || code === 'UNSUPPORTED_PLATFORM';
}

/**
 * QEMU's `file` driver: a regular file, read and written with preadv/pwritev on libuv's
 * threadpool straight from and into the caller's views (on the mmap DMA path these are guest
 * memory, so no intermediate copy). Flush is fdatasync; FUA writes are followed by one.
 * Discard punches holes (fallocate PUNCH_HOLE|KEEP_SIZE); write-zeroes uses ZERO_RANGE, or
 * PUNCH_HOLE then re-allocation, or writes zeros, whichever the filesystem supports.
 * `cache.direct=on` opens with O_DIRECT; views whose memory is not aligned go through an aligned
 * bounce buffer (the kernel says EINVAL and the request is retried that way).
 */
export class FileBackend extends BlockBackendBase {
  readonly driver = 'file';
  readonly filename: string;
  readonly size: number;
  readonly logicalBlockSize = 512;
  readonly physicalBlockSize: number;
  readonly maxTransfer = 1 << 30;
  readonly direct: boolean;
  readonly noFlush: boolean;
  readonly discardMode: DiscardMode;
  readonly capabilities: BlockCapabilities;
  readonly #fd: number;
  readonly #sys: FileSyscalls;
  #zeroRange = true;
  #punchHole = true;
  #zeros: Uint8Array | undefined;

  private constructor(fd: number, size: number, blksize: number, options: FileOptions) {
    super(options);
    this.#fd = fd;
    this.#sys = options.syscalls ?? nodeFileSyscalls;
    this.filename = options.filename;
    this.size = size;
    this.direct = options.direct ?? false;
    this.noFlush = options.noFlush ?? false;
    this.discardMode = options.discard ?? 'unmap';
    this.physicalBlockSize = Math.min(Math.max(blksize, 512), 4096);
    this.capabilities = { discard: this.discardMode === 'unmap', writeCache: !this.noFlush, fua: true };
  }

  /** Opens `options.filename`; rejects with an open-failed BlockError that says why. */
  static async open(options: FileOptions): Promise<FileBackend> {
    const { filename } = options;
    const fail = (message: string, errno: string | undefined, cause?: unknown, option = 'filename') =>
      new BlockError('open-failed', `file: could not open '${filename}': ${message}`, {
        driver: 'file',
        op: 'open',
        option,
        ...(errno === undefined ? {} : { errnoName: errno }),
        ...(cause === undefined ? {} : { cause }),
      });
    if (typeof filename !== 'string' || filename === '') throw fail('filename is empty', 'EINVAL');
    let flags = options.readOnly ? fs.constants.O_RDONLY : fs.constants.O_RDWR;
    if (options.direct) {
      const direct = (fs.constants as { O_DIRECT?: number }).O_DIRECT;
      if (direct === undefined) {
        throw fail(
          'cache.direct=on needs O_DIRECT, which this platform lacks',
          'ENOTSUP',
          undefined,
          'cache.direct',
        );
      }
      flags |= direct;
    }
    const fd = await (options.syscalls ?? nodeFileSyscalls).open(filename, flags).catch((cause: unknown) => {
      const errno = errnoNameOf(cause);
      if (errno === 'EINVAL' && options.direct) {
        throw fail(
          'its filesystem does not support O_DIRECT (cache.direct=on); use cache.direct=off',
          errno,
          cause,
          'cache.direct',
        );
      }
      if (errno === 'EROFS' || (errno === 'EACCES' && !options.readOnly)) {
        throw fail(`${(cause as Error).message}; open it with read-only=on`, errno, cause);
      }
      throw fail((cause as Error).message, errno, cause);
    });
    try {
      const st = await new Promise<fs.Stats>((resolve, reject) =>
        fs.fstat(fd, (err, st) => (err ? reject(err) : resolve(st))),
      );
      if (!st.isFile()) {
        throw fail(
          'not a regular file (QEMU serves block devices with driver=host_device, which vfu does not have)',
          'EINVAL',
        );
      }
      return new FileBackend(fd, st.size, st.blksize, options);
    } catch (e) {
      fs.close(fd, () => {});
      throw e;
    }
  }

  protected override get requestAlignment(): number {
    return this.direct ? this.logicalBlockSize : 1;
  }

  protected async doRead(offset: number, iov: IoVector, length: number): Promise<void> {
    try {
      await this.#readInto(offset, iov, length);
    } catch (e) {
      if (!this.#misalignedDirect(e)) throw e;
      const bounce = allocAligned(roundUp(length, DIRECT_ALIGNMENT), DIRECT_ALIGNMENT).subarray(0, length);
      await this.#readInto(offset, bounce, length);
      let at = 0;
      for (const s of segmentsOf(iov)) {
        s.set(bounce.subarray(at, at + s.length));
        at += s.length;
      }
    }
  }

  protected async doWrite(offset: number, iov: IoVector, length: number, fua: boolean): Promise<void> {
    try {
      await this.#writeFrom(offset, iov, length);
    } catch (e) {
      if (!this.#misalignedDirect(e)) throw e;
      const bounce = allocAligned(roundUp(length, DIRECT_ALIGNMENT), DIRECT_ALIGNMENT).subarray(0, length);
      await this.#writeFrom(offset, gatherIoVector(iov, bounce), length);
    }
    if (fua) await this.doFlush();
  }

  protected async doFlush(): Promise<void> {
    if (!this.noFlush) await this.#sys.fdatasync(this.#fd);
  }

  protected async doDiscard(offset: number, length: number): Promise<void> {
    if (this.discardMode === 'ignore' || !this.#punchHole) return;
    try {
      await this.#sys.fallocate(this.#fd, FallocateMode.PUNCH_HOLE | FallocateMode.KEEP_SIZE, offset, length);
    } catch (e) {
      // Discard is advisory: a filesystem without hole punching keeps the data, as QEMU does.
      if (!unsupported(e)) throw e;
      this.#noPunchHole();
    }
  }

  protected async doWriteZeroes(offset: number, length: number, flags: WriteZeroesFlags): Promise<void> {
    await this.#zero(offset, length, flags.mayUnmap ?? false);
    if (flags.fua) await this.doFlush();
  }

  protected doClose(): Promise<void> {
    return new Promise((resolve, reject) => fs.close(this.#fd, (err) => (err ? reject(err) : resolve())));
  }

  async #zero(offset: number, length: number, mayUnmap: boolean): Promise<void> {
    const keep = FallocateMode.KEEP_SIZE;
    if (mayUnmap && this.discardMode === 'unmap' && this.#punchHole) {
      try {
        await this.#sys.fallocate(this.#fd, FallocateMode.PUNCH_HOLE | keep, offset, length);
        return;
      } catch (e) {
        if (!unsupported(e)) throw e;
        this.#noPunchHole();
      }
    }
    if (this.#zeroRange) {
      try {
        await this.#sys.fallocate(this.#fd, FallocateMode.ZERO_RANGE | keep, offset, length);
        return;
      } catch (e) {
        if (!unsupported(e)) throw e;
        this.#zeroRange = false;
      }
    }
    if (this.#punchHole) {
      // tmpfs has no ZERO_RANGE: punch, then allocate again so the range keeps its space (QEMU too).
      try {
        await this.#sys.fallocate(this.#fd, FallocateMode.PUNCH_HOLE | keep, offset, length);
        await this.#sys.fallocate(this.#fd, keep, offset, length);
        return;
      } catch (e) {
        if (!unsupported(e)) throw e;
        this.#noPunchHole();
      }
    }
    this.#zeros ??= allocAligned(ZERO_CHUNK, DIRECT_ALIGNMENT);
    for (let done = 0; done < length; ) {
      const n = Math.min(ZERO_CHUNK, length - done);
      await this.#writeFrom(offset + done, this.#zeros.subarray(0, n), n);
      done += n;
    }
  }

  async #readInto(offset: number, iov: IoVector, length: number): Promise<void> {
    let done = 0;
    let segments = segmentsOf(iov);
    while (done < length) {
      const n = await this.#sys.readv(this.#fd, segments, offset + done);
      if (n === 0) {
        // The file shrank under us: past its end reads as zeros, as in QEMU's file driver.
        zeroIoVector(iov, done, length - done);
        return;
      }
      done += n;
      if (done < length) segments = sliceIoVector(iov, done, length - done);
    }
  }

  async #writeFrom(offset: number, iov: IoVector, length: number): Promise<void> {
    let done = 0;
    let segments = segmentsOf(iov);
    while (done < length) {
      const n = await this.#sys.writev(this.#fd, segments, offset + done);
      if (n === 0) throw this.error('io-failed', `write at offset ${offset + done} made no progress`);
      done += n;
      if (done < length) segments = sliceIoVector(iov, done, length - done);
    }
  }

  #noPunchHole(): void {
    this.#punchHole = false;
    this.capabilities.discard = false;
  }

  #misalignedDirect(error: unknown): boolean {
    return this.direct && errnoNameOf(error) === 'EINVAL';
  }
}

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}
