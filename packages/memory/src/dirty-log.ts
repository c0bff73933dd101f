import { hex } from '@vfu/errors';
import { MemoryError } from './errors';

/** One bit per page of a RAM region; set by writes, read and cleared by `getAndClear`. */
export class DirtyLog {
  readonly pageSize: number;
  readonly #shift: number;
  #bitmap: Uint8Array;

  constructor(pageSize: number, regionSize: number) {
    this.pageSize = pageSize;
    this.#shift = Math.log2(pageSize);
    this.#bitmap = new Uint8Array(Math.ceil(Math.ceil(regionSize / pageSize) / 8));
  }

  /** Keeps the bits of pages that still exist after a resize. */
  resize(regionSize: number): void {
    const next = new Uint8Array(Math.ceil(Math.ceil(regionSize / this.pageSize) / 8));
    next.set(this.#bitmap.subarray(0, next.length));
    this.#bitmap = next;
  }

  /** Marks every page touched by `[offset, offset + length)`; the range is already checked. */
  mark(offset: number, length: number): void {
    if (length <= 0) return;
    const shift = this.#shift;
    const first = Math.floor(offset / 2 ** shift);
    const last = Math.floor((offset + length - 1) / 2 ** shift);
    const bitmap = this.#bitmap;
    for (let p = first; p <= last; p++) bitmap[p >>> 3]! |= 1 << (p & 7);
  }

  /** Returns bit i = page (offset/pageSize + i) and clears those pages. `offset` is page-aligned. */
  getAndClear(offset: number, length: number, regionName: string): Uint8Array {
    if (offset % this.pageSize !== 0) {
      throw new MemoryError(
        'misaligned',
        `dirty bitmap offset is not aligned to the ${this.pageSize}-byte page`,
        {
          regionName,
          address: BigInt(offset),
        },
      );
    }
    const first = offset / this.pageSize;
    const pages = Math.ceil(length / this.pageSize);
    const out = new Uint8Array(Math.ceil(pages / 8));
    const bitmap = this.#bitmap;
    for (let i = 0; i < pages; i++) {
      const p = first + i;
      const bit = 1 << (p & 7);
      if (bitmap[p >>> 3]! & bit) {
        out[i >>> 3]! |= 1 << (i & 7);
        bitmap[p >>> 3]! &= ~bit;
      }
    }
    return out;
  }
}

/** Checks a dirty-log page size: a power of two from 1 byte to 1 GiB. */
export function checkPageSize(pageSize: unknown, regionName: string): number {
  if (
    typeof pageSize !== 'number' ||
    !Number.isInteger(pageSize) ||
    pageSize < 1 ||
    pageSize > 2 ** 30 ||
    (pageSize & (pageSize - 1)) !== 0
  ) {
    throw new MemoryError(
      'invalid-argument',
      `dirty-log page size must be a power of two in [1, 2^30], got ${typeof pageSize === 'number' ? hex(pageSize) : String(pageSize)}`,
      { regionName },
    );
  }
  return pageSize;
}
