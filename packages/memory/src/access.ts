/**
 * Byte accesses through an AddressSpace (QEMU's `address_space_rw` and `flatview_read/write`):
 * the walk over the ranges an access crosses, each part done by its region's rules.
 */
import { hex } from '@vfu/errors';
import { ADDRESS_LIMIT, checkAddress, fastAddress } from './address';
import type { AddressSpace } from './address-space';
import { MemoryError } from './errors';
import { KIND_ASYNC, KIND_IOMMU, KIND_RAM } from './flat-view';
import type { MemoryRegion } from './memory-region';
import { memoryAccessSize } from './mmio-dispatch';
import type { AccessFaultReason, FlatRange, IommuTlbEntry, MemTxResult } from './types';

/** IOMMU hops one access may take before it fails (an IOMMU translating into itself). */
const MAX_IOMMU_DEPTH = 16;

/** What a part of an access gives: its result now, or later when the part had to be awaited. */
type PartResult = MemTxResult | Promise<MemTxResult>;

/** The outcome of a whole access: its first failure, or `ok`. */
function merge(result: MemTxResult, part: MemTxResult): MemTxResult {
  return result === 'ok' ? part : result;
}

/** Checks the arguments of an access, as every non-fast path does first. */
export function checkAccess(as: AddressSpace, address: bigint, buf: Uint8Array, what: string): void {
  as._checkAlive();
  checkAddress(address, 'address', as.name);
  if (!(buf instanceof Uint8Array)) {
    throw new MemoryError('invalid-argument', `${what} must be a Uint8Array`, {
      regionName: as.name,
      address,
    });
  }
  if (address + BigInt(buf.length) > ADDRESS_LIMIT) {
    throw new MemoryError('out-of-range', `access of ${hex(buf.length)} bytes runs past 2^64`, {
      regionName: as.name,
      address,
    });
  }
}

/**
 * `AddressSpace.read`/`write`: the whole access inside one RAM range below 2^53 is copied at
 * once; anything else takes the checked range walk.
 */
export function accessBytes(
  as: AddressSpace,
  address: bigint,
  buf: Uint8Array,
  isWrite: boolean,
): MemTxResult {
  const done = ramBytes(as, address, buf, isWrite);
  if (done !== undefined) return done;
  checkAccess(as, address, buf, isWrite ? 'data' : 'dest');
  return rw(as, address, buf, isWrite, 0, false);
}

/**
 * `AddressSpace.readRam`/`writeRam`, the fast path alone: the access copied when it lies inside one
 * RAM range below 2^53 (writable, for a write), else `undefined` with nothing done.
 */
export function ramBytes(
  as: AddressSpace,
  address: bigint,
  buf: Uint8Array,
  isWrite: boolean,
): MemTxResult | undefined {
  const fv = as.flatView;
  // Anything but a non-empty Uint8Array goes to the checks.
  const n = buf instanceof Uint8Array ? buf.length : 0;
  const a = fastAddress(address);
  const i = fv._fastIndex(a, n, isWrite);
  if (i < 0 || n === 0 || fv._kinds[i] !== KIND_RAM) return undefined;
  const bytes = fv._bytes[i]!;
  const off = fv._regionOffset(i, a);
  if (isWrite) {
    if (n <= 16) for (let k = 0; k < n; k++) bytes[off + k] = buf[k]!;
    else bytes.set(buf, off);
    fv._regions[i]!._dirty?.mark(off, n);
  } else if (n <= 16) {
    for (let k = 0; k < n; k++) buf[k] = bytes[off + k]!;
  } else {
    buf.set(bytes.subarray(off, off + n));
  }
  const lost = fv._lost[i];
  if (lost !== undefined && lost[0] !== 0) return lostBacking(as, fv._regions[i]!, address, n, isWrite);
  return 'ok';
}

/**
 * After an access to RAM whose backing can vanish: `access-error` (reported, reason
 * `backing-lost`) when its `backingLost` cell is set, the access that met the loss included.
 */
export function lostBacking(
  as: AddressSpace,
  region: MemoryRegion,
  address: bigint,
  size: number,
  isWrite: boolean,
): 'access-error' | undefined {
  const lost = region._lost;
  if (lost === undefined || lost[0] === 0) return undefined;
  return as._fault(address, size, isWrite, region, 'backing-lost', undefined);
}

/**
 * The range walk of every access. Synchronous (`async` false): an asynchronous region faults and
 * IOMMU targets are walked synchronously, so the result is never a promise. Asynchronous: the walk
 * runs synchronously up to the first part that must be awaited and resumes after it, so RAM and
 * MMIO parts cost no promise. `pos` and `result` carry the progress of a resumed walk.
 */
export function rw(
  as: AddressSpace,
  address: bigint,
  buf: Uint8Array,
  isWrite: boolean,
  depth: number,
  async: false,
): MemTxResult;
export function rw(
  as: AddressSpace,
  address: bigint,
  buf: Uint8Array,
  isWrite: boolean,
  depth: number,
  async: boolean,
  pos?: number,
  result?: MemTxResult,
): PartResult;
export function rw(
  as: AddressSpace,
  address: bigint,
  buf: Uint8Array,
  isWrite: boolean,
  depth: number,
  async: boolean,
  pos = 0,
  result: MemTxResult = 'ok',
): PartResult {
  const len = buf.length;
  while (pos < len) {
    const addr = address + BigInt(pos);
    // Looked up again per part: a callback, or an awaited earlier part, may change the topology.
    const fv = as.flatView;
    const i = fv._find(addr);
    if (i < 0) {
      const n = Number(min(fv._nextStart(addr) - addr, BigInt(len - pos)));
      if (!isWrite) buf.fill(0, pos, pos + n);
      as._unassigned(addr, n, isWrite);
      result = merge(result, 'decode-error');
      pos += n;
      continue;
    }
    const r = fv.ranges[i]!;
    const n = Number(min(r.start + r.size - addr, BigInt(len - pos)));
    const chunk = buf.subarray(pos, pos + n);
    const kind = fv._kinds[i]!;
    pos += n;
    let part: PartResult;
    if (kind === KIND_ASYNC) part = asyncPart(as, r, addr, chunk, isWrite, async);
    else if (kind === KIND_IOMMU) part = iommuPart(as, r, addr, chunk, isWrite, depth, async);
    else part = localPart(as, r, kind, addr, chunk, isWrite);
    if (typeof part !== 'string') {
      const from = pos;
      const sofar = result;
      return part.then((res) => rw(as, address, buf, isWrite, depth, true, from, merge(sofar, res)));
    }
    result = merge(result, part);
  }
  return result;
}

/** RAM or MMIO part of an access, entirely inside range `r`. */
function localPart(
  as: AddressSpace,
  r: FlatRange,
  kind: number,
  addr: bigint,
  chunk: Uint8Array,
  isWrite: boolean,
): MemTxResult {
  const n = chunk.length;
  if (isWrite && r.readonly) return as._fault(addr, n, true, r.region, 'readonly', undefined);
  const offset = Number(r.offsetInRegion + (addr - r.start));
  const region = r.region;
  if (kind === KIND_RAM) {
    const view = region._view!;
    const bytes = new Uint8Array(view.buffer, view.byteOffset + offset, n);
    if (isWrite) {
      bytes.set(chunk);
      region._dirty?.mark(offset, n);
    } else {
      chunk.set(bytes);
    }
    return lostBacking(as, region, addr, n, isWrite) ?? 'ok';
  }
  // MMIO: naturally aligned pieces no larger than valid.max (QEMU's memory_access_size).
  const ops = region._ops!;
  const d = as.context._dispatcher;
  let result: MemTxResult = 'ok';
  for (let p = 0; p < n; ) {
    const l = memoryAccessSize(ops, n - p, offset + p);
    if (isWrite) d.writeFrom(region, ops, offset + p, l, chunk, p);
    else d.readInto(region, ops, offset + p, l, chunk, p);
    if (d.result !== 'ok') {
      result = merge(result, as._fault(addr + BigInt(p), l, isWrite, region, d.faultReason!, d.faultCause));
    }
    p += l;
  }
  return result;
}

/** Part of an access to an asynchronous region; refused when the access is synchronous. */
function asyncPart(
  as: AddressSpace,
  r: FlatRange,
  addr: bigint,
  chunk: Uint8Array,
  isWrite: boolean,
  async: boolean,
): PartResult {
  const n = chunk.length;
  if (!async) {
    if (!isWrite) chunk.fill(0);
    return as._fault(addr, n, isWrite, r.region, 'async-region', undefined);
  }
  if (isWrite && r.readonly) return as._fault(addr, n, true, r.region, 'readonly', undefined);
  return awaitAsyncRegion(as, r, addr, chunk, isWrite);
}

/** Runs an asynchronous region's callback; a throw, even a synchronous one, or a rejection is a fault. */
async function awaitAsyncRegion(
  as: AddressSpace,
  r: FlatRange,
  addr: bigint,
  chunk: Uint8Array,
  isWrite: boolean,
): Promise<MemTxResult> {
  const offset = r.offsetInRegion + (addr - r.start);
  const ops = r.region._asyncOps!;
  try {
    if (isWrite) await ops.write(offset, chunk);
    else await ops.read(offset, chunk);
    return 'ok';
  } catch (e) {
    if (!isWrite) chunk.fill(0);
    return as._fault(addr, chunk.length, isWrite, r.region, 'callback-failed', e);
  }
}

/** One translated piece of an IOMMU part: `[from, to)` of the chunk continues at `target` in `space`. */
interface IommuStep {
  space: AddressSpace;
  target: bigint;
  from: number;
  to: number;
}

/**
 * IOMMU part: translated page by page (all pages first, as a failed translation stops the rest),
 * then each page continues in its target address space.
 */
function iommuPart(
  as: AddressSpace,
  r: FlatRange,
  addr: bigint,
  chunk: Uint8Array,
  isWrite: boolean,
  depth: number,
  async: boolean,
): PartResult {
  const n = chunk.length;
  if (isWrite && r.readonly) return as._fault(addr, n, true, r.region, 'readonly', undefined);
  let result: MemTxResult = 'ok';
  const fail = (p: number, m: number, reason: AccessFaultReason, cause: unknown) => {
    if (!isWrite) chunk.fill(0, p, p + m);
    result = merge(result, as._fault(addr + BigInt(p), m, isWrite, r.region, reason, cause));
  };
  if (depth >= MAX_IOMMU_DEPTH) {
    fail(0, n, 'iommu-depth', undefined);
    return result;
  }
  const ops = r.region._iommuOps!;
  const steps: IommuStep[] = [];
  for (let p = 0; p < n; ) {
    const iova = r.offsetInRegion + (addr + BigInt(p) - r.start);
    let entry: IommuTlbEntry;
    try {
      entry = ops.translate(iova, isWrite ? 'write' : 'read');
      checkTlbEntry(as, entry, r.region.name, iova);
    } catch (e) {
      // Without a valid translation, nothing in this access can proceed.
      fail(p, n - p, 'iommu-translate-failed', e);
      break;
    }
    const mask = entry.addressMask;
    const inPage = iova & mask;
    const m = Number(min(mask - inPage + 1n, BigInt(n - p)));
    if (!(isWrite ? entry.perm.write : entry.perm.read)) {
      fail(p, m, 'iommu-permission', undefined);
    } else {
      steps.push({
        space: entry.target,
        target: (entry.translatedAddress & ~mask) | inPage,
        from: p,
        to: p + m,
      });
    }
    p += m;
  }
  return runSteps(steps, 0, chunk, isWrite, depth + 1, async, result);
}

/** Continues each IOMMU step in its target space, synchronously until one must be awaited. */
function runSteps(
  steps: readonly IommuStep[],
  k: number,
  chunk: Uint8Array,
  isWrite: boolean,
  depth: number,
  async: boolean,
  result: MemTxResult,
): PartResult {
  for (; k < steps.length; k++) {
    const s = steps[k]!;
    const part = continueIn(s.space, s.target, chunk.subarray(s.from, s.to), isWrite, depth, async);
    if (typeof part !== 'string') {
      const next = k + 1;
      const sofar = result;
      return part.then((res) => runSteps(steps, next, chunk, isWrite, depth, async, merge(sofar, res)));
    }
    result = merge(result, part);
  }
  return result;
}

/** Where an IOMMU sends a translated part: `space`, which may have been destroyed since. */
function continueIn(
  space: AddressSpace,
  address: bigint,
  buf: Uint8Array,
  isWrite: boolean,
  depth: number,
  async: boolean,
): PartResult {
  if (space.destroyed || address + BigInt(buf.length) > ADDRESS_LIMIT) {
    if (!isWrite) buf.fill(0);
    space._unassigned(address, buf.length, isWrite);
    return 'decode-error';
  }
  return rw(space, address, buf, isWrite, depth, async);
}

function checkTlbEntry(as: AddressSpace, entry: IommuTlbEntry, regionName: string, iova: bigint): void {
  const bad = (why: string) =>
    new MemoryError('invalid-argument', `IOMMU translate returned ${why}`, { regionName, address: iova });
  if (typeof entry !== 'object' || entry === null) throw bad('no entry');
  if (!as._isAddressSpace(entry.target)) throw bad('a target that is not an AddressSpace');
  const mask = entry.addressMask;
  if (typeof mask !== 'bigint' || mask < 0n || mask >= ADDRESS_LIMIT || (mask & (mask + 1n)) !== 0n) {
    throw bad(`an address mask that is not 2^k - 1: ${String(mask)}`);
  }
  const t = entry.translatedAddress;
  if (typeof t !== 'bigint' || t < 0n || t >= ADDRESS_LIMIT)
    throw bad(`an address outside [0, 2^64): ${String(t)}`);
  if (typeof entry.perm !== 'object' || entry.perm === null) throw bad('no permissions');
}

/**
 * `AddressSpace.translateRam`: the bytes of the RAM range at `address`, up to `length`, or
 * `undefined` when `address` is not (writable, with `forWrite`) RAM.
 */
export function translateRam(
  as: AddressSpace,
  address: bigint,
  length: number,
  forWrite: boolean,
): Uint8Array | undefined {
  as._checkAlive();
  checkAddress(address, 'address', as.name);
  if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0) {
    throw new MemoryError(
      'invalid-argument',
      `length must be a non-negative integer, got ${String(length)}`,
      {
        regionName: as.name,
        address,
      },
    );
  }
  const fv = as.flatView;
  const i = fv._find(address);
  const r = fv.ranges[i];
  if (r === undefined || fv._kinds[i] !== KIND_RAM || (forWrite && r.readonly)) return undefined;
  const off = Number(r.offsetInRegion + (address - r.start));
  const n = Number(min(BigInt(length), r.start + r.size - address));
  const view = r.region._view!;
  if (forWrite) r.region._dirty?.mark(off, n);
  return new Uint8Array(view.buffer, view.byteOffset + off, n);
}

export function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
