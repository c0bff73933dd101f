/**
 * Typed little-endian accesses through an AddressSpace (QEMU's `address_space_ld*_le` /
 * `st*_le`): one access of its size. Values are numbers up to 4 bytes and bigints for 8.
 */

import { checkAccess, lostBacking, rw } from './access';
import { fastAddress } from './address';
import type { AddressSpace } from './address-space';
import { MemoryError } from './errors';
import { KIND_IO, KIND_RAM } from './flat-view';
import type { MemoryRegion } from './memory-region';
import type { AccessSize } from './types';

/** Reads one value of `size` bytes at `address`; unassigned or refused reads give 0. */
export function readTyped(as: AddressSpace, address: bigint, size: 1 | 2 | 4): number;
export function readTyped(as: AddressSpace, address: bigint, size: 8): bigint;
export function readTyped(as: AddressSpace, address: bigint, size: AccessSize): number | bigint {
  const fv = as.flatView;
  const a = fastAddress(address);
  const i = fv._fastIndex(a, size, false);
  if (i >= 0) {
    const kind = fv._kinds[i]!;
    const off = fv._regionOffset(i, a);
    if (kind === KIND_RAM) return ramLoad(as, fv._regions[i]!, fv._views[i]!, off, size, address);
    if (kind === KIND_IO) return mmioRead(as, fv._regions[i]!, off, size, address);
  }
  return readSlow(as, address, size);
}

/** Writes one value of `size` bytes at `address`; `value` is already checked and unsigned. */
export function writeTyped(
  as: AddressSpace,
  address: bigint,
  size: AccessSize,
  value: number | bigint,
): void {
  const fv = as.flatView;
  const a = fastAddress(address);
  const i = fv._fastIndex(a, size, true);
  if (i >= 0) {
    const kind = fv._kinds[i]!;
    const off = fv._regionOffset(i, a);
    if (kind === KIND_RAM) {
      store(fv._views[i]!, off, size, value);
      fv._regions[i]!._dirty?.mark(off, size);
      lostBacking(as, fv._regions[i]!, address, size, true);
      return;
    }
    if (kind === KIND_IO) {
      mmioWrite(as, fv._regions[i]!, off, size, value, address);
      return;
    }
  }
  writeSlow(as, address, size, value);
}

/** One MMIO read, its failure reported; a refused read gives 0. */
function mmioRead(
  as: AddressSpace,
  region: MemoryRegion,
  offset: number,
  size: AccessSize,
  address: bigint,
): number | bigint {
  const d = as.context._dispatcher;
  const v = size === 8 ? d.read64(region, region._ops!, offset) : d.read(region, region._ops!, offset, size);
  if (d.result === 'ok') return v;
  as._fault(address, size, false, region, d.faultReason!, d.faultCause);
  return size === 8 ? 0n : 0;
}

function mmioWrite(
  as: AddressSpace,
  region: MemoryRegion,
  offset: number,
  size: AccessSize,
  value: number | bigint,
  address: bigint,
): void {
  const d = as.context._dispatcher;
  if (size === 8) d.write64(region, region._ops!, offset, value as bigint);
  else d.write(region, region._ops!, offset, size, value as number);
  if (d.result !== 'ok') as._fault(address, size, true, region, d.faultReason!, d.faultCause);
}

/**
 * Checked path: one MMIO access if a single MMIO range holds the whole access (also above 2^53),
 * else the byte walk, whose failures go to the hooks.
 */
function readSlow(as: AddressSpace, address: bigint, size: AccessSize): number | bigint {
  const buf = new Uint8Array(size);
  checkAccess(as, address, buf, 'dest');
  const fv = as.flatView;
  const i = fv._find(address);
  const r = fv.ranges[i];
  if (r !== undefined && address + BigInt(size) <= r.start + r.size) {
    const off = Number(r.offsetInRegion + (address - r.start));
    if (fv._kinds[i] === KIND_IO) return mmioRead(as, r.region, off, size, address);
    if (fv._kinds[i] === KIND_RAM) return ramLoad(as, r.region, r.region._view!, off, size, address);
  }
  rw(as, address, buf, false, 0, false);
  return load(new DataView(buf.buffer), 0, size);
}

function writeSlow(as: AddressSpace, address: bigint, size: AccessSize, value: number | bigint): void {
  const buf = new Uint8Array(size);
  store(new DataView(buf.buffer), 0, size, value);
  checkAccess(as, address, buf, 'data');
  const fv = as.flatView;
  const i = fv._find(address);
  const r = fv.ranges[i];
  if (
    r !== undefined &&
    fv._kinds[i] === KIND_IO &&
    !r.readonly &&
    address + BigInt(size) <= r.start + r.size
  ) {
    mmioWrite(as, r.region, Number(r.offsetInRegion + (address - r.start)), size, value, address);
    return;
  }
  rw(as, address, buf, true, 0, false);
}

/** A RAM load; 0 (and a reported fault) when the region's backing was lost. */
function ramLoad(
  as: AddressSpace,
  region: MemoryRegion,
  view: DataView,
  off: number,
  size: AccessSize,
  address: bigint,
): number | bigint {
  const v = load(view, off, size);
  if (lostBacking(as, region, address, size, false) === undefined) return v;
  return size === 8 ? 0n : 0;
}

function load(view: DataView, off: number, size: AccessSize): number | bigint {
  if (size === 4) return view.getUint32(off, true);
  if (size === 2) return view.getUint16(off, true);
  if (size === 1) return view.getUint8(off);
  return view.getBigUint64(off, true);
}

function store(view: DataView, off: number, size: AccessSize, value: number | bigint): void {
  if (size === 4) view.setUint32(off, value as number, true);
  else if (size === 2) view.setUint16(off, value as number, true);
  else if (size === 1) view.setUint8(off, value as number);
  else view.setBigUint64(off, value as bigint, true);
}

/**
 * Checks that `value` fits in `size` bytes (negative values as two's complement) and returns it
 * unsigned; a `MemoryError` otherwise, as nothing is truncated silently.
 */
export function checkValue(as: AddressSpace, address: unknown, value: number, size: 1 | 2 | 4): number {
  const bits = 8 * size;
  if (
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    value < -(2 ** (bits - 1)) ||
    value >= 2 ** bits
  ) {
    throw valueError(as, address, value, bits);
  }
  return size === 4 ? value >>> 0 : value & (size === 2 ? 0xffff : 0xff);
}

/** `checkValue` for 64-bit values, in [-2^63, 2^64). */
export function checkValue64(as: AddressSpace, address: unknown, value: bigint): bigint {
  if (typeof value !== 'bigint' || value < -(1n << 63n) || value >= 1n << 64n) {
    throw valueError(as, address, value, 64);
  }
  return BigInt.asUintN(64, value);
}

function valueError(as: AddressSpace, address: unknown, value: unknown, bits: number): MemoryError {
  return new MemoryError('invalid-argument', `value ${String(value)} does not fit in ${bits} bits`, {
    regionName: as.name,
    ...(typeof address === 'bigint' ? { address } : {}),
  });
}
