import { MemoryError } from './errors';
import type { MemoryRegion } from './memory-region';
import type { AccessFaultReason, AccessSize, MemoryRegionOps, MemTxResult } from './types';

/** A `MemoryRegionOps` with its defaults filled in and checked once, at region creation. */
export interface ResolvedMmioOps {
  readonly ops: MemoryRegionOps;
  readonly validMin: number;
  /** 0 means "every size is valid", as QEMU's `valid.max_access_size == 0`. */
  readonly validMax: number;
  readonly validUnaligned: boolean;
  readonly accepts: ((offset: number, size: AccessSize, isWrite: boolean) => boolean) | undefined;
  readonly implMin: 1 | 2 | 4;
  readonly implMax: 1 | 2 | 4;
  readonly implUnaligned: boolean;
  readonly bigEndian: boolean;
}

const ACCESS_SIZES: ReadonlySet<unknown> = new Set([1, 2, 4, 8]);
const IMPL_SIZES: ReadonlySet<unknown> = new Set([1, 2, 4]);

/** Checks an ops object and fills in QEMU's defaults. */
export function resolveMmioOps(ops: MemoryRegionOps, regionName: string): ResolvedMmioOps {
  const bad = (why: string) =>
    new MemoryError('invalid-ops', `invalid MemoryRegionOps: ${why}`, { regionName });
  if (typeof ops !== 'object' || ops === null) throw bad('not an object');
  if (typeof ops.read !== 'function') throw bad('read is not a function');
  if (typeof ops.write !== 'function') throw bad('write is not a function');
  const valid = ops.valid ?? {};
  const impl = ops.impl ?? {};
  const size = (v: unknown, allowed: ReadonlySet<unknown>, field: string, dflt: number): number => {
    if (v === undefined) return dflt;
    if (!allowed.has(v)) throw bad(`${field} must be one of ${[...allowed].join('/')}, got ${String(v)}`);
    return v as number;
  };
  const validMin = size(valid.minAccessSize, ACCESS_SIZES, 'valid.minAccessSize', 1);
  const validMax = size(valid.maxAccessSize, ACCESS_SIZES, 'valid.maxAccessSize', 0);
  if (validMax !== 0 && validMin > validMax)
    throw bad(`valid.minAccessSize ${validMin} > maxAccessSize ${validMax}`);
  const implMin = size(impl.minAccessSize, IMPL_SIZES, 'impl.minAccessSize', 1) as 1 | 2 | 4;
  const implMax = size(impl.maxAccessSize, IMPL_SIZES, 'impl.maxAccessSize', 4) as 1 | 2 | 4;
  if (implMin > implMax) throw bad(`impl.minAccessSize ${implMin} > maxAccessSize ${implMax}`);
  if (valid.accepts !== undefined && typeof valid.accepts !== 'function')
    throw bad('valid.accepts is not a function');
  const endianness = ops.endianness ?? 'little';
  if (endianness !== 'little' && endianness !== 'big') throw bad(`endianness must be little or big`);
  return {
    ops,
    validMin,
    validMax,
    validUnaligned: valid.unaligned === true,
    accepts: valid.accepts?.bind(valid),
    implMin,
    implMax,
    implUnaligned: impl.unaligned === true,
    bigEndian: endianness === 'big',
  };
}

/**
 * QEMU's `memory_access_size`: the largest power-of-two piece, at most `valid.max` (4 when unset)
 * and, unless the callbacks handle unaligned offsets, no larger than the offset's alignment.
 */
export function memoryAccessSize(r: ResolvedMmioOps, remaining: number, offset: number): AccessSize {
  let max = r.validMax === 0 ? 4 : r.validMax;
  if (!r.implUnaligned) {
    while (max > 1 && offset % max !== 0) max >>= 1;
  }
  let l = Math.min(remaining, max);
  if (l >= 8) l = 8;
  else if (l >= 4) l = 4;
  else if (l >= 2) l = 2;
  else l = 1;
  return l as AccessSize;
}

/** Byte-swaps the low `size` bytes of `v`. */
function bswap(v: number, size: number): number {
  if (size === 1) return v;
  if (size === 2) return ((v & 0xff) << 8) | ((v >>> 8) & 0xff);
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
}

function maskTo(v: number, size: number): number {
  return size === 4 ? v >>> 0 : size === 2 ? v & 0xffff : v & 0xff;
}

/**
 * Runs single MMIO accesses against a region's callbacks: checks `valid`, holds the re-entrancy
 * guard, and splits or widens the access to the `impl` sizes (QEMU's `access_with_adjusted_size`).
 *
 * Values cross this boundary as the little-endian reading of the bytes on the bus: for a
 * big-endian region each callback value is byte-swapped, which is what QEMU's `adjust_endianness`
 * does for a little-endian access. One dispatcher serves one MemoryContext; the outcome of the
 * last call is left in `result`/`hi`/`faultReason`, read by the caller right after the call (a
 * nested access made by a callback has finished by then).
 */
export class MmioDispatcher {
  /** Outcome of the last `read`/`write`. */
  result: MemTxResult = 'ok';
  /** Bytes 4..7 of the last 8-byte read. */
  hi = 0;
  /** Why the last access failed, when `result` is `access-error`. */
  faultReason: AccessFaultReason | undefined;
  /** What a failing callback threw. */
  faultCause: unknown;
  /**
   * Owners (or regions without owner) currently inside one of their callbacks. A stack rather
   * than a Set: it is almost always empty or one deep, and push/pop cost less than hashing.
   */
  readonly #engaged: unknown[] = [];

  #valid(r: ResolvedMmioOps, offset: number, size: AccessSize, isWrite: boolean): boolean {
    if (r.accepts !== undefined && !r.accepts(offset, size, isWrite)) return false;
    if (!r.validUnaligned && offset % size !== 0) return false;
    if (r.validMax === 0) return true;
    return size >= r.validMin && size <= r.validMax;
  }

  #fail(reason: AccessFaultReason, cause: unknown): void {
    this.result = 'access-error';
    this.faultReason = reason;
    this.faultCause = cause;
    this.hi = 0;
  }

  /** Reads `size` bytes at `offset`; returns bytes 0..3 as a little-endian number, bytes 4..7 in `hi`. */
  read(region: MemoryRegion, r: ResolvedMmioOps, offset: number, size: AccessSize): number {
    const key = region.owner ?? region;
    if (this.#engaged.length > 0 && this.#engaged.includes(key)) {
      this.#fail('reentrancy', undefined);
      return 0;
    }
    let lo = 0;
    let hi = 0;
    this.#engaged.push(key);
    try {
      if (!this.#valid(r, offset, size, false)) {
        this.#engaged.pop();
        this.#fail('invalid-access', undefined);
        return 0;
      }
      const read = r.ops.read;
      if (size < r.implMin) {
        // Widened: one access of impl.min bytes, keeping the first `size` bytes on the bus.
        const v = this.#call(r, read.call(r.ops, offset, r.implMin), r.implMin);
        lo = maskTo(v, size);
      } else {
        const chunk = size < r.implMax ? size : r.implMax;
        for (let k = 0; k < size; k += chunk) {
          const v = this.#call(r, read.call(r.ops, offset + k, chunk as 1 | 2 | 4), chunk);
          if (k < 4) lo += v * 2 ** (8 * k);
          else hi += v * 2 ** (8 * (k - 4));
        }
      }
    } catch (e) {
      this.#engaged.pop();
      this.#fail('callback-failed', e);
      return 0;
    }
    this.#engaged.pop();
    this.result = 'ok';
    this.faultReason = undefined;
    this.faultCause = undefined;
    this.hi = hi;
    return lo;
  }

  /** Writes `size` bytes at `offset`: bytes 0..3 from `lo`, 4..7 from `hi` (little-endian). */
  write(
    region: MemoryRegion,
    r: ResolvedMmioOps,
    offset: number,
    size: AccessSize,
    lo: number,
    hi: number,
  ): void {
    const key = region.owner ?? region;
    if (this.#engaged.length > 0 && this.#engaged.includes(key)) {
      this.#fail('reentrancy', undefined);
      return;
    }
    this.#engaged.push(key);
    try {
      if (!this.#valid(r, offset, size, true)) {
        this.#engaged.pop();
        this.#fail('invalid-access', undefined);
        return;
      }
      const write = r.ops.write;
      if (size < r.implMin) {
        // Widened: the missing bytes are written as zero, as QEMU does.
        const v = maskTo(lo, size);
        write.call(r.ops, offset, r.bigEndian ? bswap(v, r.implMin) : v, r.implMin);
      } else {
        const chunk = size < r.implMax ? size : r.implMax;
        for (let k = 0; k < size; k += chunk) {
          const v = k < 4 ? maskTo(lo >>> (8 * k), chunk) : maskTo(hi >>> (8 * (k - 4)), chunk);
          write.call(r.ops, offset + k, r.bigEndian ? bswap(v, chunk) : v, chunk as 1 | 2 | 4);
        }
      }
    } catch (e) {
      this.#engaged.pop();
      this.#fail('callback-failed', e);
      return;
    }
    this.#engaged.pop();
    this.result = 'ok';
    this.faultReason = undefined;
    this.faultCause = undefined;
  }

  #call(r: ResolvedMmioOps, value: unknown, size: number): number {
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new TypeError(`MMIO read callback returned ${String(value)}, expected a number`);
    }
    const v = maskTo(value, size);
    return r.bigEndian ? bswap(v, size) : v;
  }
}
