import { check, type NativeMappingHandle, native } from './binding';
import { SysError } from './errors';
import { type OwnedFd, Seal } from './owned-fd';

/**
 * How to map:
 * - `'shared'`: MAP_SHARED read-write; stores reach the file and every other mapping of it.
 *   Needs an fd opened read-write (a memfd always is).
 * - `'private'`: MAP_PRIVATE copy-on-write; reads see the file, stores stay in this process.
 *   Works on read-only fds, and a store never faults.
 * - `'auto'` (default): `'shared'` when the fd is open read-write, `'private'` otherwise.
 */
export type MapMode = 'auto' | 'shared' | 'private';

/** Options for {@link MappedRegion.map}. */
export interface MapOptions {
  /** Byte offset into the file; a multiple of the page size (default 0). */
  offset?: number;
  /** Bytes to map (default: from `offset` to the end of the file). */
  length?: number;
  mode?: MapMode;
}

/**
 * A range of a file descriptor mapped into this process, exposed as an ArrayBuffer without copying.
 *
 * `unmap()` detaches the ArrayBuffer before unmapping, so every view of it reads as empty instead
 * of touching unmapped memory; a region never unmapped is unmapped when its buffer is collected.
 * The region does not own the fd: closing the fd afterwards keeps the mapping valid.
 *
 * SIGBUS: mapping checks that the range lies inside the file, but a peer holding the same fd can
 * still shrink the file afterwards, and touching a page past the new end kills the process with
 * SIGBUS. Only a `Seal.SHRINK` seal rules that out; `shrinkSealed` says whether it was present.
 */
export class MappedRegion {
  /** Offset of the mapping in the file. */
  readonly offset: number;
  /** Length in bytes. */
  readonly length: number;
  /** True when stores reach the file (MAP_SHARED). */
  readonly shared: boolean;
  /** True when the fd carried `Seal.SHRINK` at map time, so no peer can make accesses fault. */
  readonly shrinkSealed: boolean;
  #buffer: ArrayBuffer | undefined;
  readonly #handle: NativeMappingHandle;

  private constructor(
    buffer: ArrayBuffer,
    handle: NativeMappingHandle,
    offset: number,
    shared: boolean,
    shrinkSealed: boolean,
  ) {
    this.#buffer = buffer;
    this.#handle = handle;
    this.offset = offset;
    this.length = buffer.byteLength;
    this.shared = shared;
    this.shrinkSealed = shrinkSealed;
  }

  /** Maps `length` bytes of `fd` at `offset`. Throws `OUT_OF_RANGE` for a range past the file's end. */
  static map(fd: OwnedFd, options: MapOptions = {}): MappedRegion {
    const n = native();
    const raw = fd.fd;
    const offset = options.offset ?? 0;
    const pageSize = n.pageSize();
    if (!Number.isSafeInteger(offset) || offset < 0 || offset % pageSize !== 0) {
      throw new SysError(
        'INVALID_ARGUMENT',
        `offset must be a multiple of the page size (${pageSize}), got ${offset}`,
        {
          fd: raw,
        },
      );
    }
    const size = fd.size();
    const length = options.length ?? size - offset;
    if (!Number.isSafeInteger(length) || length <= 0) {
      throw new SysError('INVALID_ARGUMENT', `length must be a positive integer, got ${length}`, { fd: raw });
    }
    if (offset + length > size) {
      throw new SysError(
        'OUT_OF_RANGE',
        `range 0x${offset.toString(16)}+0x${length.toString(16)} reaches past the end of the file (size 0x${size.toString(16)})`,
        { fd: raw },
      );
    }
    const mode = options.mode ?? 'auto';
    const shared = mode === 'shared' || (mode === 'auto' && fd.access() === 'readwrite');
    const seals = n.getSeals(raw);
    const shrinkSealed = seals >= 0 && (seals & Seal.SHRINK) !== 0;
    const result = n.mmap(raw, offset, length, shared);
    if (typeof result === 'number') {
      // The file may have shrunk between our fstat and the native one.
      if (result === -34) {
        throw new SysError('OUT_OF_RANGE', 'file shrank below the requested range while mapping', {
          fd: raw,
        });
      }
      check(result, 'mmap', { fd: raw });
      throw new Error('unreachable');
    }
    return new MappedRegion(result.buffer, result.handle, offset, shared, shrinkSealed);
  }

  /** False after `unmap()`. */
  get mapped(): boolean {
    return this.#buffer !== undefined;
  }

  /** The mapped bytes. Throws `REGION_UNMAPPED` after `unmap()`. */
  get buffer(): ArrayBuffer {
    if (this.#buffer === undefined) throw new SysError('REGION_UNMAPPED', 'region was unmapped');
    return this.#buffer;
  }

  /** A Uint8Array over the whole region (`start`/`end` as in `subarray`). */
  bytes(start = 0, end = this.length): Uint8Array {
    return new Uint8Array(this.buffer).subarray(start, end);
  }

  /** Unmaps now and detaches the buffer (views become empty). Safe to call more than once. */
  unmap(): void {
    const buffer = this.#buffer;
    if (buffer === undefined) return;
    this.#buffer = undefined;
    native().munmap(this.#handle, buffer);
  }
}
