/**
 * Every `valid` x `impl` combination, every access size, aligned and unaligned, both byte orders,
 * read and write, against a reference model written from QEMU's `memory_region_access_valid`,
 * `access_with_adjusted_size` (with its shift/mask accessors) and `adjust_endianness`.
 */
import { describe, expect, it } from 'vitest';
import { MemoryContext } from './memory-context';
import { MemoryRegion } from './memory-region';
import type { AccessFault, AccessSize, MemoryRegionOps, MemoryRegionOps64 } from './types';

const SIZES: AccessSize[] = [1, 2, 4, 8];
/** 8-aligned, odd, 2-aligned only, 4-aligned only. */
const OFFSETS = [0x10, 0x11, 0x12, 0x14];
const REGION_SIZE = 0x40;

interface Config {
  validMin: AccessSize;
  validMax: 0 | AccessSize;
  validUnaligned: boolean;
  implMin: AccessSize;
  implMax: AccessSize;
  bigEndian: boolean;
}

/** A callback as the reference model and the device both record it; values as bigints. */
type Call = [dir: 'r' | 'w', offset: number, size: number, value: bigint];

function pattern(): Uint8Array {
  return Uint8Array.from({ length: REGION_SIZE }, (_, i) => (i * 37 + 11) & 0xff);
}

/** The device's value of `size` bytes at `offset`, in its byte order. */
function deviceValue(bytes: Uint8Array, offset: number, size: number, bigEndian: boolean): bigint {
  let v = 0n;
  for (let k = 0; k < size; k++) {
    const byte = BigInt(bytes[offset + k] ?? 0);
    v |= byte << BigInt(8 * (bigEndian ? size - 1 - k : k));
  }
  return v;
}

function bswap(v: bigint, size: number): bigint {
  let r = 0n;
  for (let k = 0; k < size; k++) r |= ((v >> BigInt(8 * k)) & 0xffn) << BigInt(8 * (size - 1 - k));
  return r;
}

const mask = (bytes: number) => (1n << BigInt(8 * bytes)) - 1n;

/** QEMU's semantics, transcribed: what the callbacks see and what the bus gets. */
function reference(
  c: Config,
  offset: number,
  size: AccessSize,
  isWrite: boolean,
  busValue: bigint,
): { calls: Call[]; valid: boolean; value: bigint } {
  const calls: Call[] = [];
  // memory_region_access_valid
  if (!c.validUnaligned && offset % size !== 0) return { calls, valid: false, value: 0n };
  if (c.validMax !== 0 && (size > c.validMax || size < c.validMin)) return { calls, valid: false, value: 0n };
  // access_with_adjusted_size
  const a = Math.max(Math.min(size, c.implMax), c.implMin);
  const accessMask = mask(a);
  const bytes = pattern();
  const shiftOf = (i: number) => (c.bigEndian ? (size - a - i) * 8 : i * 8);
  if (!isWrite) {
    let value = 0n;
    for (let i = 0; i < size; i += a) {
      const tmp = deviceValue(bytes, offset + i, a, c.bigEndian);
      calls.push(['r', offset + i, a, tmp]);
      const shift = shiftOf(i);
      // memory_region_shift_read_access
      value |= shift >= 0 ? (tmp & accessMask) << BigInt(shift) : (tmp >> BigInt(-shift)) & accessMask;
    }
    // adjust_endianness for a little-endian access, then the caller keeps `size` bytes.
    if (c.bigEndian) value = bswap(value & mask(size), size);
    return { calls, valid: true, value: value & mask(size) };
  }
  const data = c.bigEndian ? bswap(busValue, size) : busValue;
  for (let i = 0; i < size; i += a) {
    const shift = shiftOf(i);
    // memory_region_shift_write_access
    const tmp = shift >= 0 ? (data >> BigInt(shift)) & accessMask : (data << BigInt(-shift)) & accessMask;
    calls.push(['w', offset + i, a, tmp]);
  }
  return { calls, valid: true, value: 0n };
}

/** The device: callbacks over the pattern bytes that record calls and check value types. */
function device(c: Config) {
  const bytes = pattern();
  const calls: Call[] = [];
  const typeErrors: string[] = [];
  const read = (offset: number, size: AccessSize): number | bigint => {
    const v = deviceValue(bytes, offset, size, c.bigEndian);
    calls.push(['r', offset, size, v]);
    return size === 8 ? v : Number(v);
  };
  const write = (offset: number, value: number | bigint, size: AccessSize) => {
    if ((size === 8) !== (typeof value === 'bigint')) typeErrors.push(`${typeof value} for ${size} bytes`);
    calls.push(['w', offset, size, BigInt(value)]);
  };
  const valid = {
    minAccessSize: c.validMin,
    ...(c.validMax === 0 ? {} : { maxAccessSize: c.validMax }),
    unaligned: c.validUnaligned,
  };
  const endianness = c.bigEndian ? ('big' as const) : ('little' as const);
  let region: MemoryRegion;
  if (c.implMax === 8) {
    const ops: MemoryRegionOps64 = {
      read,
      write,
      valid,
      impl: { minAccessSize: c.implMin, maxAccessSize: 8 },
      endianness,
    };
    region = MemoryRegion.io('dev', BigInt(REGION_SIZE), ops);
  } else {
    const ops: MemoryRegionOps = {
      read: (offset, size) => read(offset, size) as number,
      write,
      valid,
      impl: { minAccessSize: c.implMin as 1 | 2 | 4, maxAccessSize: c.implMax },
      endianness,
    };
    region = MemoryRegion.io('dev', BigInt(REGION_SIZE), ops);
  }
  const ctx = new MemoryContext('t');
  const root = MemoryRegion.container('root', 0x10000n);
  root.addSubregion(0x1000n, region);
  const as = ctx.createAddressSpace('as', root);
  const faults: AccessFault[] = [];
  as.onAccessFault((f) => faults.push(f));
  return { as, calls, typeErrors, faults };
}

function typedRead(as: ReturnType<typeof device>['as'], address: bigint, size: AccessSize): bigint {
  if (size === 8) return as.readU64(address);
  return BigInt(size === 4 ? as.readU32(address) : size === 2 ? as.readU16(address) : as.readU8(address));
}

function typedWrite(as: ReturnType<typeof device>['as'], address: bigint, size: AccessSize, v: bigint): void {
  if (size === 8) as.writeU64(address, v);
  else if (size === 4) as.writeU32(address, Number(v));
  else if (size === 2) as.writeU16(address, Number(v));
  else as.writeU8(address, Number(v));
}

const validPairs: [AccessSize, 0 | AccessSize][] = [];
for (const min of SIZES) {
  validPairs.push([min, 0]);
  for (const max of SIZES) if (min <= max) validPairs.push([min, max]);
}
const implPairs: [AccessSize, AccessSize][] = [];
for (const min of SIZES) for (const max of SIZES) if (min <= max) implPairs.push([min, max]);

describe('valid x impl x size x alignment, against QEMU', () => {
  for (const [validMin, validMax] of validPairs) {
    for (const validUnaligned of [false, true]) {
      const name = `valid ${validMin}..${validMax || 'any'}${validUnaligned ? ' unaligned' : ''}`;
      it(`${name}, every impl pair`, () => {
        let checked = 0;
        let bytePaths = 0;
        for (const [implMin, implMax] of implPairs) {
          for (const bigEndian of [false, true]) {
            const c: Config = { validMin, validMax, validUnaligned, implMin, implMax, bigEndian };
            for (const size of SIZES) {
              for (const offset of OFFSETS) {
                const label = JSON.stringify({ ...c, size, offset });
                const address = 0x1000n + BigInt(offset);
                // Read.
                const r = device(c);
                const want = reference(c, offset, size, false, 0n);
                const got = typedRead(r.as, address, size);
                expect([label, r.calls, got]).toEqual([label, want.calls, want.value]);
                expect([label, r.faults.map((f) => f.reason)]).toEqual([
                  label,
                  want.valid ? [] : ['invalid-access'],
                ]);
                // Write a value whose every byte differs.
                const busValue = 0xf1e2d3c4b5a69788n & mask(size);
                const w = device(c);
                const wantW = reference(c, offset, size, true, busValue);
                typedWrite(w.as, address, size, busValue);
                expect([label, w.calls, w.typeErrors]).toEqual([label, wantW.calls, []]);
                // Byte accesses (vfio-user region reads and writes) make the same single access
                // when address_space_rw's cut (valid.max, else 4; natural alignment) keeps it whole.
                if ((c.validMax || 4) >= size && offset % size === 0) {
                  const b = device(c);
                  const dest = new Uint8Array(size);
                  b.as.read(address, dest);
                  const bytes = Array.from({ length: size }, (_, k) =>
                    Number((want.value >> BigInt(8 * k)) & 0xffn),
                  );
                  expect([label, b.calls, [...dest]]).toEqual([label, want.calls, bytes]);
                  const bw = device(c);
                  const data = Uint8Array.from({ length: size }, (_, k) =>
                    Number((busValue >> BigInt(8 * k)) & 0xffn),
                  );
                  bw.as.write(address, data);
                  expect([label, bw.calls, bw.typeErrors]).toEqual([label, wantW.calls, []]);
                  bytePaths++;
                }
                checked++;
              }
            }
          }
        }
        expect(checked).toBe(implPairs.length * 2 * SIZES.length * OFFSETS.length);
        expect(bytePaths).toBeGreaterThan(0);
      });
    }
  }
});
