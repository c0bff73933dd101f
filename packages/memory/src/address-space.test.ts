import { describe, expect, it } from 'vitest';
import { recordingOps } from '../test/helpers';
import { MemoryContext } from './memory-context';
import { MemoryRegion } from './memory-region';
import type { AccessFault, UnassignedAccess } from './types';

function machine() {
  const ctx = new MemoryContext('m');
  const root = MemoryRegion.container('root', 1n << 64n);
  const ram = MemoryRegion.ram('ram', 0x1000n);
  const dev = recordingOps(0x100);
  const mmio = MemoryRegion.io('mmio', 0x100n, dev.ops);
  const rom = MemoryRegion.rom('rom', 0x100n);
  root.addSubregion(0x0n, ram);
  root.addSubregion(0x1000n, mmio);
  root.addSubregion(0x2000n, rom);
  const as = ctx.createAddressSpace('sys', root);
  const unassigned: UnassignedAccess[] = [];
  const faults: AccessFault[] = [];
  as.onUnassignedAccess((e) => unassigned.push(e));
  as.onAccessFault((e) => faults.push(e));
  return { ctx, root, ram, mmio, rom, dev, as, unassigned, faults };
}

describe('byte accesses', () => {
  it('a write across RAM, MMIO and a hole is split per range', () => {
    const m = machine();
    const data = new Uint8Array(0x1110 - 0xff8).map((_, i) => i + 1);
    // [0xff8, 0x1000) RAM, [0x1000, 0x1100) MMIO, [0x1100, 0x1110) unassigned
    expect(m.as.write(0xff8n, data)).toBe('decode-error');
    expect([...m.ram.ramBuffer!.subarray(0xff8)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(m.dev.bytes[0]).toBe(9);
    expect(m.dev.bytes[0xff]).toBe(data[8 + 0xff]);
    expect(m.unassigned).toEqual([{ address: 0x1100n, size: 0x10, isWrite: true }]);

    const back = new Uint8Array(data.length).fill(0xee);
    expect(m.as.read(0xff8n, back)).toBe('decode-error');
    expect([...back.subarray(0, 0x108)]).toEqual([...data.subarray(0, 0x108)]);
    // Unassigned reads give zeros (QEMU's default for memory).
    expect([...back.subarray(0x108)]).toEqual(new Array(0x10).fill(0));
  });

  it('zero-length accesses succeed and touch nothing', () => {
    const m = machine();
    expect(m.as.read(0x5000n, new Uint8Array(0))).toBe('ok');
    expect(m.unassigned).toEqual([]);
  });

  it('ROM reads like RAM and refuses writes with access-error', () => {
    const m = machine();
    m.rom.ramBuffer!.set([0xde, 0xad], 0);
    expect(m.as.readU16(0x2000n)).toBe(0xadde);
    expect(m.as.write(0x2000n, new Uint8Array([1, 2]))).toBe('access-error');
    m.as.writeU8(0x2001n, 5);
    expect([...m.rom.ramBuffer!.subarray(0, 2)]).toEqual([0xde, 0xad]);
    expect(m.faults.map((f) => [f.reason, f.region.name, f.address])).toEqual([
      ['readonly', 'rom', 0x2000n],
      ['readonly', 'rom', 0x2001n],
    ]);
  });

  it('read-only RAM refuses writes', () => {
    const ctx = new MemoryContext();
    const ram = MemoryRegion.ram('ro', 0x10n, { readonly: true });
    const as = ctx.createAddressSpace('as', ram);
    expect(as.write(0n, new Uint8Array([1]))).toBe('access-error');
    ram.setReadonly(false);
    expect(as.write(0n, new Uint8Array([1]))).toBe('ok');
    expect(ram.ramBuffer![0]).toBe(1);
  });
});

describe('typed accesses', () => {
  it('are little-endian on RAM', () => {
    const m = machine();
    m.as.writeU32(0x10n, 0x11223344);
    expect([...m.ram.ramBuffer!.subarray(0x10, 0x14)]).toEqual([0x44, 0x33, 0x22, 0x11]);
    m.as.writeU16(0x20n, 0xabcd);
    m.as.writeU8(0x22n, 0xef);
    expect(m.as.readU32(0x20n)).toBe(0x00efabcd);
    m.as.writeU64(0x30n, 0xfedcba9876543210n);
    expect(m.as.readU64(0x30n)).toBe(0xfedcba9876543210n);
    expect(m.as.readU32(0x34n)).toBe(0xfedcba98);
  });

  it('accept negative values as two complement', () => {
    const m = machine();
    m.as.writeU32(0n, -1);
    expect(m.as.readU32(0n)).toBe(0xffffffff);
    m.as.writeU64(8n, -2n);
    expect(m.as.readU64(8n)).toBe(0xfffffffffffffffen);
  });

  it('an access straddling two ranges is split like a byte access', () => {
    const m = machine();
    m.ram.ramBuffer!.set([0xaa, 0xbb], 0xffe);
    m.dev.bytes.set([0xcc, 0xdd], 0);
    expect(m.as.readU32(0xffen)).toBe(0xddccbbaa);
    m.as.writeU32(0xffen, 0x01020304);
    expect([...m.ram.ramBuffer!.subarray(0xffe)]).toEqual([0x04, 0x03]);
    expect([...m.dev.bytes.subarray(0, 2)]).toEqual([0x02, 0x01]);
  });

  it('unassigned reads give 0, writes are dropped, and the hook sees both', () => {
    const m = machine();
    expect(m.as.readU32(0x9000n)).toBe(0);
    expect(m.as.readU64(0x1_0000_0000n)).toBe(0n);
    m.as.writeU16(0x9000n, 1);
    expect(m.unassigned).toEqual([
      { address: 0x9000n, size: 4, isWrite: false },
      { address: 0x1_0000_0000n, size: 8, isWrite: false },
      { address: 0x9000n, size: 2, isWrite: true },
    ]);
  });

  it('a removed hook is no longer called', () => {
    const m = machine();
    const seen: unknown[] = [];
    const off = m.as.onUnassignedAccess((e) => seen.push(e));
    m.as.readU8(0x9000n);
    off();
    m.as.readU8(0x9000n);
    expect(seen).toHaveLength(1);
  });

  it.each([
    [
      'a number address',
      (as: ReturnType<typeof machine>['as']) => as.readU32(4 as unknown as bigint),
      'invalid-address',
    ],
    ['a negative address', (as: ReturnType<typeof machine>['as']) => as.readU8(-1n), 'invalid-address'],
    [
      'an address of 2^64',
      (as: ReturnType<typeof machine>['as']) => as.writeU8(1n << 64n, 0),
      'invalid-address',
    ],
    [
      'a u32 running past 2^64',
      (as: ReturnType<typeof machine>['as']) => as.readU32((1n << 64n) - 2n),
      'out-of-range',
    ],
    [
      'a buffer running past 2^64',
      (as: ReturnType<typeof machine>['as']) => as.read((1n << 64n) - 1n, new Uint8Array(2)),
      'out-of-range',
    ],
    ['a value too wide', (as: ReturnType<typeof machine>['as']) => as.writeU8(0n, 256), 'invalid-argument'],
    [
      'a fractional value',
      (as: ReturnType<typeof machine>['as']) => as.writeU16(0n, 1.5),
      'invalid-argument',
    ],
    [
      'a u64 value too wide',
      (as: ReturnType<typeof machine>['as']) => as.writeU64(0n, 1n << 64n),
      'invalid-argument',
    ],
    [
      'a non-Uint8Array',
      (as: ReturnType<typeof machine>['as']) => as.read(0n, [1, 2] as unknown as Uint8Array),
      'invalid-argument',
    ],
  ])('reject %s with a MemoryError', (_, fn, code) => {
    const m = machine();
    expect(() => fn(m.as)).toThrow(expect.objectContaining({ name: 'MemoryError', code }));
  });

  it('name the address in hex in errors', () => {
    const m = machine();
    expect(() => m.as.readU32(0xffff_ffff_ffff_fffen)).toThrow(/0xfffffffffffffffe/);
  });
});

describe('translateRam', () => {
  it('returns the RAM bytes in place, clipped to the range', () => {
    const m = machine();
    const view = m.as.translateRam(0xff0n, 0x100)!;
    expect(view.length).toBe(0x10);
    view[0] = 0x42;
    expect(m.ram.ramBuffer![0xff0]).toBe(0x42);
    expect(m.as.translateRam(0x1000n, 4)).toBeUndefined(); // MMIO
    expect(m.as.translateRam(0x9000n, 4)).toBeUndefined(); // hole
    expect(m.as.translateRam(0x2000n, 4)?.length).toBe(4); // ROM for reading
    expect(m.as.translateRam(0x2000n, 4, true)).toBeUndefined(); // not for writing
  });

  it('marks the pages dirty when asked for writing', () => {
    const m = machine();
    m.ram.setDirtyLogging(true, 0x100);
    m.as.translateRam(0x200n, 0x10, true);
    expect([...m.ram.getAndClearDirty(0n, 0x1000n)]).toEqual([0b100, 0]);
  });
});

describe('destroy', () => {
  it('sends regionDel to listeners, detaches from the root, and refuses later accesses', () => {
    const m = machine();
    const dels: string[] = [];
    m.as.addListener({ regionDel: (s) => dels.push(s.region.name) });
    m.as.destroy();
    expect(dels).toEqual(['ram', 'mmio', 'rom']);
    expect(m.as.destroyed).toBe(true);
    expect(m.ctx.addressSpaces).toEqual([]);
    expect(() => m.as.readU32(0n)).toThrow(expect.objectContaining({ code: 'destroyed' }));
    expect(() => m.as.read(0n, new Uint8Array(1))).toThrow(expect.objectContaining({ code: 'destroyed' }));
    // Changes to the old root no longer render anything.
    m.ram.setEnabled(false);
    expect(m.as.renderCount).toBe(1);
    m.as.destroy();
  });
});

describe('isolation', () => {
  it('two contexts map different memory at the same address without touching', () => {
    const mk = (fill: number) => {
      const ctx = new MemoryContext();
      const root = MemoryRegion.container('dma', 1n << 64n);
      const ram = MemoryRegion.ram('client-mem', 0x1000n);
      ram.ramBuffer!.fill(fill);
      root.addSubregion(0x8000_0000n, ram);
      return ctx.createAddressSpace('dma', root);
    };
    const a = mk(0xaa);
    const b = mk(0xbb);
    expect(a.readU8(0x8000_0000n)).toBe(0xaa);
    expect(b.readU8(0x8000_0000n)).toBe(0xbb);
    a.context.transaction(() => a.root.subregions[0]!.setEnabled(false));
    expect(a.readU8(0x8000_0000n)).toBe(0);
    expect(b.readU8(0x8000_0000n)).toBe(0xbb);
  });
});

describe('RAM whose backing was lost (backingLost)', () => {
  function lostSetup() {
    const ctx = new MemoryContext();
    const root = MemoryRegion.container('root', 0x10000n);
    const cell = new Int32Array(1);
    const backing = new Uint8Array(0x2000).fill(7);
    const ram = MemoryRegion.ram('client', 0x2000n, { backing, backingLost: cell });
    root.addSubregion(0x1000n, ram);
    const as = ctx.createAddressSpace('as', root);
    const faults: string[] = [];
    as.onAccessFault((f) =>
      faults.push(`${f.reason} ${f.isWrite ? 'w' : 'r'} ${f.address.toString(16)}+${f.size}`),
    );
    return { as, cell, ram, faults };
  }

  it('accesses succeed until the cell is set, then every kind of access fails with backing-lost', async () => {
    const { as, cell, ram, faults } = lostSetup();
    const buf = new Uint8Array(32);
    expect(as.read(0x1000n, buf)).toBe('ok');
    expect(as.readU32(0x1000n)).toBe(0x07070707);
    expect(ram.backingLost).toBe(false);
    cell[0] = 1;
    expect(ram.backingLost).toBe(true);
    expect(as.read(0x1000n, buf)).toBe('access-error');
    expect(as.readRam(0x1000n, buf)).toBe('access-error');
    expect(as.write(0x1000n, buf)).toBe('access-error');
    expect(as.writeRam(0x1004n, Uint8Array.of(1))).toBe('access-error');
    // Spanning RAM and a hole: the RAM part fails as lost, the hole as unassigned.
    expect(as.read(0x2ff0n, new Uint8Array(0x20))).toBe('access-error');
    expect(await as.readAsync(0x1000n, buf)).toBe('access-error');
    expect(as.readU32(0x1000n)).toBe(0);
    expect(as.readU64(0x1000n)).toBe(0n);
    as.writeU16(0x1000n, 1);
    as.writeU64(0x1008n, 1n);
    expect(faults).toEqual([
      'backing-lost r 1000+32',
      'backing-lost r 1000+32',
      'backing-lost w 1000+32',
      'backing-lost w 1004+1',
      'backing-lost r 2ff0+16',
      'backing-lost r 1000+32',
      'backing-lost r 1000+4',
      'backing-lost r 1000+8',
      'backing-lost w 1000+2',
      'backing-lost w 1008+8',
    ]);
  });

  it('readRam/writeRam leave accesses outside one RAM range to the caller', () => {
    const { as } = lostSetup();
    expect(as.readRam(0x0n, new Uint8Array(4))).toBeUndefined();
    expect(as.readRam(0x2ffen, new Uint8Array(4))).toBeUndefined();
    expect(as.writeRam(0x5000n, new Uint8Array(4))).toBeUndefined();
    const out = new Uint8Array(2);
    expect(as.readRam(0x1ffen, out)).toBe('ok');
    expect([...out]).toEqual([7, 7]);
  });

  it('backingLost must be an Int32Array', () => {
    expect(() => MemoryRegion.ram('x', 0x1000n, { backingLost: [0] as unknown as Int32Array })).toThrow(
      /backingLost must be an Int32Array/,
    );
  });
});
