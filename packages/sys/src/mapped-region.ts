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
  /**
   * Guard the mapping against SIGBUS (default true): if the file shrinks under it, an access to
   * the lost pages completes on zero pages instead of killing the process, and the region becomes
   * `poisoned`. Costs one registry slot; accesses themselves cost nothing extra.
   */
  guard?: boolean;
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
 * still shrink the file afterwards, and touching a page past the new end raises SIGBUS. A guarded
 * mapping (the default) absorbs it: the addon's SIGBUS handler maps zero pages over the whole
 * mapping so the access completes, and the region becomes `poisoned` (its `poisonFlag` cell turns
 * nonzero at once; `onPoisoned` listeners run on the next loop turn). Its contents are then
 * meaningless: treat the peer as broken. SIGBUS outside guarded mappings still crashes as before.
 * The handler is process-wide (one per process, installed on the first guarded mapping and
 * chaining to the previous one); everything else is per addon instance, so workers work too.
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
  /** The native poison word (an int32), when guarded. */
  readonly #poison: Int32Array | undefined;
  readonly #listeners = new Set<() => void>();
  /** Held here so the native side can hold it weakly (see the addon's MappingState). */
  readonly #notify: (() => void) | undefined;

  private constructor(
    handle: NativeMappingHandle,
    offset: number,
    length: number,
    shared: boolean,
    shrinkSealed: boolean,
    notify: (() => void) | undefined,
  ) {
    this.#handle = handle;
    this.#notify = notify;
    const word = native().poisonWord(handle);
    this.#poison = word instanceof ArrayBuffer ? new Int32Array(word) : undefined;
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
    // The callback reaches the region through a box filled below: the native side holds the
    // callback weakly, the region holds it strongly.
    const box: { region?: MappedRegion } = {};
    const notify =
      options.guard === false
        ? undefined
        : () => {
            if (box.region !== undefined) box.region.#firePoisoned();
          };
    const result = n.mmap(raw, offset, length, shared, notify);
    if (typeof result === 'number') {
      // The file may have shrunk between our fstat and the native one.
      if (result === -28) {
        throw new SysError('OUT_OF_RANGE', 'too many guarded mappings (the SIGBUS guard registry is full)', {
          fd: raw,
        });
      }
      if (result === -34) {
        throw new SysError('OUT_OF_RANGE', 'file shrank below the requested range while mapping', {
          fd: raw,
        });
      }
      check(result, 'mmap', { fd: raw });
      throw new Error('unreachable');
    }
    const region = new MappedRegion(result, offset, length, shared, shrinkSealed, notify);
    box.region = region;
    return region;
  }

  /** True when the mapping is guarded against SIGBUS (see the class notes). */
  get guarded(): boolean {
    return this.#poison !== undefined;
  }

  /**
   * True once the guard absorbed a fault in this mapping (its file shrank under it): the memory
   * now reads as zeros and no longer reaches the file. Cheap: one load.
   */
  get poisoned(): boolean {
    return this.#poison !== undefined && this.#poison[0] !== 0;
  }

  /**
   * The poison word itself (nonzero once poisoned), for checking after each access without a call:
   * `@vfu/memory` RAM regions take it as `backingLost`. Undefined when not guarded.
   */
  get poisonFlag(): Int32Array | undefined {
    return this.#poison;
  }

  /** Calls `listener` once, on the event loop, when the mapping becomes poisoned. Returns an unsubscribe. */
  onPoisoned(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Total SIGBUS faults absorbed by the guard in this process. */
  static guardFaults(): number {
    return native().guardFaults();
  }

  #firePoisoned(): void {
    void this.#notify;
    for (const l of [...this.#listeners]) l();
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
