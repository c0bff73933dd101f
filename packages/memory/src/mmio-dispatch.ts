import { MemoryError } from './errors';
import type { MemoryRegion } from './memory-region';
import type {
  AccessFaultReason,
  AccessSize,
  MemoryRegionOps,
  MemoryRegionOps64,
  MemTxResult,
  MmioValidRules,
} from './types';

/** The callbacks as the core calls them: values are numbers up to 4 bytes, bigints for 8. */
interface MmioCallbacks {
  read(offset: number, size: AccessSize): unknown;
  write(offset: number, value: number | bigint, size: AccessSize): void;
}

/** A `MemoryRegionOps` with its defaults filled in and checked once, at region creation. */
export interface ResolvedMmioOps {
  readonly ops: MmioCallbacks;
  readonly validMin: number;
  /** 0 means "every size is valid", as QEMU's `valid.max_access_size == 0`. */
  readonly validMax: number;
  readonly validUnaligned: boolean;
  readonly accepts: ((offset: number, size: AccessSize, isWrite: boolean) => boolean) | undefined;
  readonly implMin: AccessSize;
  readonly implMax: AccessSize;
  readonly implUnaligned: boolean;
  readonly bigEndian: boolean;
}

const ACCESS_SIZES: ReadonlySet<unknown> = new Set([1, 2, 4, 8]);
const MASK_32 = 0xffffffffn;
const MAX_U64 = (1n << 64n) - 1n;

/** Checks an ops object and fills in QEMU's defaults. */
export function resolveMmioOps(
  ops: MemoryRegionOps | MemoryRegionOps64,
  regionName: string,
): ResolvedMmioOps {
  const bad = (why: string) =>
    new MemoryError('invalid-ops', `invalid MemoryRegionOps: ${why}`, { regionName });
  if (typeof ops !== 'object' || ops === null) throw bad('not an object');
  if (typeof ops.read !== 'function') throw bad('read is not a function');
  if (typeof ops.write !== 'function') throw bad('write is not a function');
  const valid: MmioValidRules = ops.valid ?? {};
  const impl: { minAccessSize?: AccessSize; maxAccessSize?: AccessSize; unaligned?: boolean } =
    ops.impl ?? {};
  const size = (v: unknown, field: string, dflt: number): number => {
    if (v === undefined) return dflt;
    if (!ACCESS_SIZES.has(v)) throw bad(`${field} must be one of 1/2/4/8, got ${String(v)}`);
    return v as number;
  };
  const validMin = size(valid.minAccessSize, 'valid.minAccessSize', 1);
  const validMax = size(valid.maxAccessSize, 'valid.maxAccessSize', 0);
  if (validMax !== 0 && validMin > validMax)
    throw bad(`valid.minAccessSize ${validMin} > maxAccessSize ${validMax}`);
  const implMin = size(impl.minAccessSize, 'impl.minAccessSize', 1) as AccessSize;
  const implMax = size(impl.maxAccessSize, 'impl.maxAccessSize', 4) as AccessSize;
  if (implMin > implMax) throw bad(`impl.minAccessSize ${implMin} > maxAccessSize ${implMax}`);
  if (valid.accepts !== undefined && typeof valid.accepts !== 'function')
    throw bad('valid.accepts is not a function');
  const endianness = ops.endianness ?? 'little';
  if (endianness !== 'little' && endianness !== 'big') throw bad(`endianness must be little or big`);
  return {
    ops: ops as MmioCallbacks,
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

function bswap64(v: bigint): bigint {
  const lo = Number(v & MASK_32);
  const hi = Number(v >> 32n);
  return (BigInt(bswap(lo, 4)) << 32n) | BigInt(bswap(hi, 4));
}

function maskTo(v: number, size: number): number {
  return size === 4 ? v >>> 0 : size === 2 ? v & 0xffff : v & 0xff;
}

/** A read callback's value as the unsigned number of `size` (1, 2 or 4) bytes. */
function toNumber(value: unknown, size: number): number {
  if (typeof value === 'number' && Number.isFinite(value)) return maskTo(value, size);
  if (typeof value === 'bigint') return Number(BigInt.asUintN(8 * size, value));
  throw new TypeError(`MMIO read callback returned ${String(value)}, expected a number or bigint`);
}

/** A read callback's value as an unsigned 64-bit bigint. */
function toBigint(value: unknown): bigint {
  if (typeof value === 'bigint') return value >= 0n && value <= MAX_U64 ? value : BigInt.asUintN(64, value);
  if (typeof value === 'number' && Number.isFinite(value))
    return BigInt.asUintN(64, BigInt(Math.trunc(value)));
  throw new TypeError(`MMIO read callback returned ${String(value)}, expected a number or bigint`);
}

/**
 * Runs single MMIO accesses against a region's callbacks: checks `valid`, holds the re-entrancy
 * guard, and splits or widens the access to the `impl` sizes exactly as QEMU's
 * `access_with_adjusted_size`: the callbacks see `max(min(size, impl.max), impl.min)` bytes at a
 * time, at increasing offsets (`offset + i`, whatever the alignment).
 *
 * Values cross this boundary as the little-endian reading of the bytes on the bus (a number up to
 * 4 bytes, a bigint for 8): for a big-endian region each callback value is byte-swapped, which is
 * what QEMU's shifts and `adjust_endianness` amount to for a little-endian access. A widened read
 * keeps the first bytes on the bus; a widened write passes zeros for the rest.
 *
 * One dispatcher serves one MemoryContext; whether the last call succeeded is left in
 * `result`/`faultReason`/`faultCause`, read by the caller right after the call (a nested access
 * made by a callback has finished by then).
 */
export class MmioDispatcher {
  /** Outcome of the last access. */
  result: MemTxResult = 'ok';
  /** Why the last access failed, when `result` is `access-error`. */
  faultReason: AccessFaultReason | undefined;
  /** What a failing callback threw. */
  faultCause: unknown;
  /**
   * Owners (or regions without owner) currently inside one of their callbacks. A stack rather
   * than a Set: it is almost always empty or one deep, and push/pop cost less than hashing.
   */
  readonly #engaged: unknown[] = [];

  /** Reads `size` (1, 2 or 4) bytes at `offset`; returns them as a little-endian number. */
  read(region: MemoryRegion, r: ResolvedMmioOps, offset: number, size: 1 | 2 | 4): number {
    if (!this.#enter(region, r, offset, size, false)) return 0;
    let v = 0;
    try {
      const a = implAccessSize(r, size);
      if (a === 8) {
        // Widened to a 64-bit callback: keep the first `size` bytes on the bus.
        let c = toBigint(r.ops.read(offset, 8));
        if (r.bigEndian) c = bswap64(c);
        v = Number(BigInt.asUintN(8 * size, c));
      } else if (a > size) {
        v = maskTo(this.#chunk(r, offset, a), size);
      } else {
        for (let i = 0; i < size; i += a) v += this.#chunk(r, offset + i, a) * 2 ** (8 * i);
      }
    } catch (e) {
      return this.#leaveFailed(e, 0);
    }
    this.#leave();
    return v;
  }

  /** Reads 8 bytes at `offset`; returns them as a little-endian bigint. */
  read64(region: MemoryRegion, r: ResolvedMmioOps, offset: number): bigint {
    if (!this.#enter(region, r, offset, 8, false)) return 0n;
    let v: bigint;
    try {
      const a = implAccessSize(r, 8);
      if (a === 8) {
        v = toBigint(r.ops.read(offset, 8));
        if (r.bigEndian) v = bswap64(v);
      } else {
        let lo = 0;
        let hi = 0;
        for (let i = 0; i < 8; i += a) {
          const c = this.#chunk(r, offset + i, a);
          if (i < 4) lo += c * 2 ** (8 * i);
          else hi += c * 2 ** (8 * (i - 4));
        }
        v = (BigInt(hi) << 32n) | BigInt(lo);
      }
    } catch (e) {
      return this.#leaveFailed(e, 0n);
    }
    this.#leave();
    return v;
  }

  /** Writes `size` (1, 2 or 4) bytes at `offset` from the little-endian number `value`. */
  write(region: MemoryRegion, r: ResolvedMmioOps, offset: number, size: 1 | 2 | 4, value: number): void {
    if (!this.#enter(region, r, offset, size, true)) return;
    try {
      const a = implAccessSize(r, size);
      const write = r.ops.write;
      const v = maskTo(value, size);
      if (a === 8) {
        // Widened to a 64-bit callback: the missing bytes are zero, as QEMU does.
        const c = BigInt(v);
        write.call(r.ops, offset, r.bigEndian ? bswap64(c) : c, 8);
      } else if (a > size) {
        write.call(r.ops, offset, r.bigEndian ? bswap(v, a) : v, a);
      } else {
        for (let i = 0; i < size; i += a) {
          const c = maskTo(v >>> (8 * i), a);
          write.call(r.ops, offset + i, r.bigEndian ? bswap(c, a) : c, a);
        }
      }
    } catch (e) {
      this.#leaveFailed(e, undefined);
      return;
    }
    this.#leave();
  }

  /** Writes 8 bytes at `offset` from the little-endian bigint `value` (in [0, 2^64)). */
  write64(region: MemoryRegion, r: ResolvedMmioOps, offset: number, value: bigint): void {
    if (!this.#enter(region, r, offset, 8, true)) return;
    try {
      const a = implAccessSize(r, 8);
      const write = r.ops.write;
      if (a === 8) {
        write.call(r.ops, offset, r.bigEndian ? bswap64(value) : value, 8);
      } else {
        const lo = Number(value & MASK_32);
        const hi = Number(value >> 32n);
        for (let i = 0; i < 8; i += a) {
          const c = i < 4 ? maskTo(lo >>> (8 * i), a) : maskTo(hi >>> (8 * (i - 4)), a);
          write.call(r.ops, offset + i, r.bigEndian ? bswap(c, a) : c, a);
        }
      }
    } catch (e) {
      this.#leaveFailed(e, undefined);
      return;
    }
    this.#leave();
  }

  /**
   * Reads `size` bytes at `offset` into `dest[pos, pos + size)`: the one place where bus bytes and
   * access values meet on the read side. Only a 64-bit callback makes a bigint.
   */
  readInto(
    region: MemoryRegion,
    r: ResolvedMmioOps,
    offset: number,
    size: AccessSize,
    dest: Uint8Array,
    pos: number,
  ): void {
    if (size !== 8) {
      storeLe(dest, pos, this.read(region, r, offset, size), size);
      return;
    }
    const a = implAccessSize(r, 8);
    if (a === 8) {
      const v = this.read64(region, r, offset);
      storeLe(dest, pos, Number(v & MASK_32), 4);
      storeLe(dest, pos + 4, Number(v >> 32n), 4);
      return;
    }
    // Split into number callbacks, stored as they come.
    if (!this.#enter(region, r, offset, 8, false)) {
      dest.fill(0, pos, pos + 8);
      return;
    }
    try {
      for (let i = 0; i < 8; i += a) storeLe(dest, pos + i, this.#chunk(r, offset + i, a), a);
    } catch (e) {
      dest.fill(0, pos, pos + 8);
      this.#leaveFailed(e, undefined);
      return;
    }
    this.#leave();
  }

  /** Writes `src[pos, pos + size)` at `offset`; the write-side counterpart of `readInto`. */
  writeFrom(
    region: MemoryRegion,
    r: ResolvedMmioOps,
    offset: number,
    size: AccessSize,
    src: Uint8Array,
    pos: number,
  ): void {
    if (size !== 8) {
      this.write(region, r, offset, size, loadLe(src, pos, size));
      return;
    }
    const a = implAccessSize(r, 8);
    if (a === 8) {
      const lo = loadLe(src, pos, 4);
      const hi = loadLe(src, pos + 4, 4);
      this.write64(region, r, offset, (BigInt(hi) << 32n) | BigInt(lo));
      return;
    }
    if (!this.#enter(region, r, offset, 8, true)) return;
    try {
      const write = r.ops.write;
      for (let i = 0; i < 8; i += a) {
        const c = loadLe(src, pos + i, a);
        write.call(r.ops, offset + i, r.bigEndian ? bswap(c, a) : c, a);
      }
    } catch (e) {
      this.#leaveFailed(e, undefined);
      return;
    }
    this.#leave();
  }

  /** Checks the guard and `valid`; on refusal records the fault and returns false. */
  #enter(
    region: MemoryRegion,
    r: ResolvedMmioOps,
    offset: number,
    size: AccessSize,
    isWrite: boolean,
  ): boolean {
    const key = region.owner ?? region;
    if (this.#engaged.length > 0 && this.#engaged.includes(key)) {
      this.#fail('reentrancy', undefined);
      return false;
    }
    // `accepts` is the device's own code: it runs under the guard, as QEMU's does.
    this.#engaged.push(key);
    let ok: boolean;
    try {
      ok = isValid(r, offset, size, isWrite);
    } catch (e) {
      this.#engaged.pop();
      this.#fail('callback-failed', e);
      return false;
    }
    if (!ok) {
      this.#engaged.pop();
      this.#fail('invalid-access', undefined);
    }
    return ok;
  }

  #leave(): void {
    this.#engaged.pop();
    this.result = 'ok';
    this.faultReason = undefined;
    this.faultCause = undefined;
  }

  #leaveFailed<T>(e: unknown, value: T): T {
    this.#engaged.pop();
    this.#fail('callback-failed', e);
    return value;
  }

  #fail(reason: AccessFaultReason, cause: unknown): void {
    this.result = 'access-error';
    this.faultReason = reason;
    this.faultCause = cause;
  }

  /** One callback read of `a` (1, 2 or 4) bytes, as the little-endian value of its bus bytes. */
  #chunk(r: ResolvedMmioOps, offset: number, a: AccessSize): number {
    const v = toNumber(r.ops.read(offset, a), a);
    return r.bigEndian ? bswap(v, a) : v;
  }
}

/** The size of each callback for an access of `size` bytes: QEMU's `MAX(MIN(size, impl.max), impl.min)`. */
function implAccessSize(r: ResolvedMmioOps, size: AccessSize): AccessSize {
  return Math.max(Math.min(size, r.implMax), r.implMin) as AccessSize;
}

/** QEMU's `memory_region_access_valid`. */
function isValid(r: ResolvedMmioOps, offset: number, size: AccessSize, isWrite: boolean): boolean {
  if (r.accepts !== undefined && !r.accepts(offset, size, isWrite)) return false;
  if (!r.validUnaligned && offset % size !== 0) return false;
  if (r.validMax === 0) return true;
  return size >= r.validMin && size <= r.validMax;
}

function storeLe(dest: Uint8Array, pos: number, v: number, size: number): void {
  for (let k = 0; k < size; k++) dest[pos + k] = (v >>> (8 * k)) & 0xff;
}

function loadLe(src: Uint8Array, pos: number, size: number): number {
  let v = 0;
  for (let k = 0; k < size; k++) v += src[pos + k]! * 2 ** (8 * k);
  return v;
}
