import { constants } from 'node:buffer';
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
 * A range of a file descriptor mapped into this process, exposed as ArrayBuffers without copying.
 *
 * A mapping may be larger than the largest ArrayBuffer Node allows ({@link MappedRegion.MAX_VIEW},
 * 4 GiB on Node 20): guest RAM often is. The whole range is mapped natively once; JavaScript reaches
 * it through `buffer` (the whole mapping, when it fits one ArrayBuffer) or through `bytes(start, end)`
 * windows of at most `MAX_VIEW` bytes each.
 *
 * `unmap()` detaches every buffer handed out before unmapping, so every view of them reads as empty
 * instead of touching unmapped memory; a region never unmapped is unmapped once its handle and all
 * its buffers are collected. The region does not own the fd: closing the fd afterwards keeps the
 * mapping valid.
 *
 * SIGBUS: mapping checks that the range lies inside the file, but a peer holding the same fd can
 * still shrink the file afterwards, and touching a page past the new end kills the process with
 * SIGBUS. Only a `Seal.SHRINK` seal rules that out; `shrinkSealed` says whether it was present.
 */
export class MappedRegion {
  /** Largest ArrayBuffer (so largest window) this Node can hand out. */
  static readonly MAX_VIEW: number = constants.MAX_LENGTH;
  /** Offset of the mapping in the file. */
  readonly offset: number;
  /** Length in bytes. */
  readonly length: number;
  /** True when stores reach the file (MAP_SHARED). */
  readonly shared: boolean;
  /** True when the fd carried `Seal.SHRINK` at map time, so no peer can make accesses fault. */
  readonly shrinkSealed: boolean;
  #mapped = true;
  /** The whole mapping as one buffer, made on first use (only when it fits). */
  #whole: ArrayBuffer | undefined;
  /** Windows handed out by `bytes` on a mapping larger than `MAX_VIEW`, detached by `unmap`. */
  readonly #windows: ArrayBuffer[] = [];
  readonly #handle: NativeMappingHandle;

  private constructor(
    handle: NativeMappingHandle,
    offset: number,
    length: number,
    shared: boolean,
    shrinkSealed: boolean,
  ) {
    this.#handle = handle;
    this.offset = offset;
    this.length = length;
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
    return new MappedRegion(result, offset, length, shared, shrinkSealed);
  }

  /** False after `unmap()`. */
  get mapped(): boolean {
    return this.#mapped;
  }

  /**
   * The whole mapping as one ArrayBuffer. Throws `REGION_UNMAPPED` after `unmap()`, and
   * `OUT_OF_RANGE` when the mapping is larger than `MAX_VIEW` (use `bytes(start, end)` windows).
   */
  get buffer(): ArrayBuffer {
    this.#checkMapped();
    if (this.length > MappedRegion.MAX_VIEW) {
      throw new SysError(
        'OUT_OF_RANGE',
        `mapping of 0x${this.length.toString(16)} bytes exceeds the largest ArrayBuffer (0x${MappedRegion.MAX_VIEW.toString(16)}); use bytes(start, end)`,
      );
    }
    if (this.#whole === undefined) this.#whole = this.#window(0, this.length);
    return this.#whole;
  }

  /**
   * A Uint8Array over `[start, end)` of the mapping (`start`/`end` as in `subarray`). On a mapping
   * larger than `MAX_VIEW` the range must be given explicitly, lie inside the mapping and span at
   * most `MAX_VIEW` bytes; each such call makes a new window.
   */
  bytes(start = 0, end = this.length): Uint8Array {
    if (this.length <= MappedRegion.MAX_VIEW) return new Uint8Array(this.buffer).subarray(start, end);
    this.#checkMapped();
    if (
      !Number.isSafeInteger(start) ||
      !Number.isSafeInteger(end) ||
      start < 0 ||
      end > this.length ||
      start > end
    ) {
      throw new SysError(
        'OUT_OF_RANGE',
        `window ${start}..${end} is not inside the mapping of 0x${this.length.toString(16)} bytes`,
      );
    }
    if (end - start > MappedRegion.MAX_VIEW) {
      throw new SysError(
        'OUT_OF_RANGE',
        `window of 0x${(end - start).toString(16)} bytes exceeds the largest ArrayBuffer (0x${MappedRegion.MAX_VIEW.toString(16)})`,
      );
    }
    if (start === end) return new Uint8Array(0);
    const window = this.#window(start, end - start);
    this.#windows.push(window);
    return new Uint8Array(window);
  }

  /** Unmaps now and detaches every buffer handed out (views become empty). Safe to call more than once. */
  unmap(): void {
    if (!this.#mapped) return;
    this.#mapped = false;
    const buffers = this.#whole === undefined ? [...this.#windows] : [this.#whole, ...this.#windows];
    this.#whole = undefined;
    this.#windows.length = 0;
    native().munmap(this.#handle, buffers);
  }

  #checkMapped(): void {
    if (!this.#mapped) throw new SysError('REGION_UNMAPPED', 'region was unmapped');
  }

  #window(offset: number, length: number): ArrayBuffer {
    const result = native().mapWindow(this.#handle, offset, length);
    if (typeof result === 'number') {
      check(result, 'mmap window');
      throw new Error('unreachable');
    }
    return result;
  }
}
