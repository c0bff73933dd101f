import { describe, expect, it } from 'vitest';
import { type Call, recordingOps } from '../test/helpers';
import { MemoryContext } from './memory-context';
import { MemoryRegion } from './memory-region';
import type { AccessFault, MemoryRegionOps, MemoryRegionOps64 } from './types';

function setup(extra: Omit<MemoryRegionOps, 'read' | 'write'> = {}, size = 0x100) {
  const rec = recordingOps(size, extra);
  const ctx = new MemoryContext('t');
  const root = MemoryRegion.container('root', 0x10000n);
  const mmio = MemoryRegion.io('dev', BigInt(size), rec.ops);
  root.addSubregion(0x1000n, mmio);
  const as = ctx.createAddressSpace('as', root);
  const faults: AccessFault[] = [];
  as.onAccessFault((f) => faults.push(f));
  return { ...rec, as, mmio, faults };
}

describe('access size adaptation (impl block)', () => {
  it('issues an aligned 4-byte access as one callback by default (impl 1..4)', () => {
    const { as, calls, bytes } = setup();
    bytes.set([0x11, 0x22, 0x33, 0x44], 8);
    expect(as.readU32(0x1008n)).toBe(0x44332211);
    expect(calls).toEqual<Call[]>([['read', 8, 4]]);
  });

  it('splits an 8-byte access into two 4-byte callbacks, low half first', () => {
    const { as, calls } = setup();
    as.writeU64(0x1010n, 0x1122334455667788n);
    expect(calls).toEqual<Call[]>([
      ['write', 0x10, 0x55667788, 4],
      ['write', 0x14, 0x11223344, 4],
    ]);
    calls.length = 0;
    expect(as.readU64(0x1010n)).toBe(0x1122334455667788n);
    expect(calls).toEqual<Call[]>([
      ['read', 0x10, 4],
      ['read', 0x14, 4],
    ]);
  });

  it('splits a 4-byte access into byte callbacks when impl.max is 1', () => {
    const { as, calls } = setup({ impl: { maxAccessSize: 1 } });
    as.writeU32(0x1004n, 0xa1b2c3d4);
    expect(calls).toEqual<Call[]>([
      ['write', 4, 0xd4, 1],
      ['write', 5, 0xc3, 1],
      ['write', 6, 0xb2, 1],
      ['write', 7, 0xa1, 1],
    ]);
    calls.length = 0;
    expect(as.readU32(0x1004n)).toBe(0xa1b2c3d4);
    expect(calls.map((c) => c[1])).toEqual([4, 5, 6, 7]);
  });

  it('splits into 2-byte callbacks when impl.max is 2', () => {
    const { as, calls } = setup({ impl: { maxAccessSize: 2 } });
    as.writeU64(0x1000n, 0x0807060504030201n);
    expect(calls).toEqual<Call[]>([
      ['write', 0, 0x0201, 2],
      ['write', 2, 0x0403, 2],
      ['write', 4, 0x0605, 2],
      ['write', 6, 0x0807, 2],
    ]);
  });

  it('widens a 1-byte read to impl.min and keeps the low-order byte (little-endian)', () => {
    const { as, calls, bytes } = setup({ impl: { minAccessSize: 4 } });
    bytes.set([0xaa, 0xbb, 0xcc, 0xdd], 0x20);
    expect(as.readU8(0x1021n)).toBe(0xbb);
    // One callback of impl.min at the same (unaligned) offset, as QEMU does.
    expect(calls).toEqual<Call[]>([['read', 0x21, 4]]);
  });

  it('widens a 2-byte write to impl.min with the missing bytes as zero', () => {
    const { as, calls } = setup({ impl: { minAccessSize: 4 } });
    as.writeU16(0x1020n, 0xbeef);
    expect(calls).toEqual<Call[]>([['write', 0x20, 0xbeef, 4]]);
  });

  it('big-endian region: chunks are byte-swapped and a widened read keeps the first bytes', () => {
    const { as, calls, bytes } = setup({ endianness: 'big', impl: { maxAccessSize: 2, minAccessSize: 2 } });
    // The device holds big-endian 16-bit registers 0x1122 at 0 and 0x3344 at 2.
    bytes.set([0x11, 0x22, 0x33, 0x44], 0);
    const dest = new Uint8Array(4);
    expect(as.read(0x1000n, dest)).toBe('ok');
    // The bus sees the device's bytes in order.
    expect([...dest]).toEqual([0x11, 0x22, 0x33, 0x44]);
    expect(calls).toEqual<Call[]>([
      ['read', 0, 2],
      ['read', 2, 2],
    ]);
    calls.length = 0;
    expect(as.readU8(0x1000n)).toBe(0x11);
    expect(calls).toEqual<Call[]>([['read', 0, 2]]);
    calls.length = 0;
    as.writeU8(0x1002n, 0x99);
    // Widened big-endian write: the byte goes high, the rest is zero.
    expect(calls).toEqual<Call[]>([['write', 2, 0x9900, 2]]);
    expect([...bytes.subarray(0, 4)]).toEqual([0x11, 0x22, 0x99, 0x00]);
  });

  it('big-endian 4-byte read through readU32 is byte-swapped relative to the callback value', () => {
    const { as, bytes } = setup({ endianness: 'big' });
    bytes.set([0x12, 0x34, 0x56, 0x78], 0);
    expect(as.readU32(0x1000n)).toBe(0x78563412);
  });
});

describe('validity (valid block)', () => {
  it('refuses sizes below valid.min: read gives 0, callbacks untouched', () => {
    const { as, calls, faults } = setup({ valid: { minAccessSize: 4, maxAccessSize: 4 } });
    expect(as.readU8(0x1000n)).toBe(0);
    as.writeU16(0x1000n, 1);
    expect(calls).toEqual([]);
    expect(faults.map((f) => [f.reason, f.size, f.isWrite])).toEqual([
      ['invalid-access', 1, false],
      ['invalid-access', 2, true],
    ]);
  });

  it('refuses unaligned typed accesses unless valid.unaligned', () => {
    const a = setup();
    expect(a.as.readU32(0x1002n)).toBe(0);
    expect(a.calls).toEqual([]);
    expect(a.faults[0]?.reason).toBe('invalid-access');
    const b = setup({ valid: { unaligned: true } });
    b.as.readU32(0x1002n);
    expect(b.calls).toEqual<Call[]>([['read', 2, 4]]);
  });

  it('consults valid.accepts with offset, size and direction', () => {
    const seen: unknown[] = [];
    const { as, calls } = setup({
      valid: {
        accepts(offset, size, isWrite) {
          seen.push([offset, size, isWrite]);
          return offset !== 0x10;
        },
      },
    });
    as.writeU32(0x1010n, 5);
    as.writeU32(0x1014n, 6);
    expect(seen).toEqual([
      [0x10, 4, true],
      [0x14, 4, true],
    ]);
    expect(calls).toEqual<Call[]>([['write', 0x14, 6, 4]]);
  });

  it('8-byte typed access is refused when valid.max is 4', () => {
    const { as, calls } = setup({ valid: { maxAccessSize: 4 } });
    expect(as.readU64(0x1000n)).toBe(0n);
    expect(calls).toEqual([]);
  });
});

describe('byte accesses to MMIO (address_space_rw splitting)', () => {
  it('cuts an unaligned 7-byte read into naturally aligned pieces', () => {
    const { as, calls } = setup();
    const dest = new Uint8Array(7);
    expect(as.read(0x1001n, dest)).toBe('ok');
    expect(calls).toEqual<Call[]>([
      ['read', 1, 1],
      ['read', 2, 2],
      ['read', 4, 4],
    ]);
  });

  it('uses valid.max as the piece size and lets the impl block split further', () => {
    const { as, calls } = setup({ valid: { maxAccessSize: 8 }, impl: { maxAccessSize: 4 } });
    as.write(0x1000n, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]));
    expect(calls).toEqual<Call[]>([
      ['write', 0, 0x04030201, 4],
      ['write', 4, 0x08070605, 4],
      ['write', 8, 9, 1],
    ]);
  });

  it('with impl.unaligned, pieces are not cut by alignment', () => {
    const { as, calls } = setup({ valid: { unaligned: true }, impl: { unaligned: true } });
    as.read(0x1001n, new Uint8Array(4));
    expect(calls).toEqual<Call[]>([['read', 1, 4]]);
  });
});

describe('callback failures and re-entrancy', () => {
  it('a throwing callback gives access-error with the cause, and the process goes on', () => {
    const ctx = new MemoryContext();
    const boom = new Error('device bug');
    const mr = MemoryRegion.io('bad', 0x10n, {
      read: () => {
        throw boom;
      },
      write: () => {},
    });
    const as = ctx.createAddressSpace('as', mr);
    const faults: AccessFault[] = [];
    as.onAccessFault((f) => faults.push(f));
    expect(as.read(0n, new Uint8Array(4))).toBe('access-error');
    expect(as.readU32(0n)).toBe(0);
    expect(faults.map((f) => [f.reason, f.cause])).toEqual([
      ['callback-failed', boom],
      ['callback-failed', boom],
    ]);
  });

  it('a read callback returning a non-number is a callback failure', () => {
    const ctx = new MemoryContext();
    const mr = MemoryRegion.io('bad', 0x10n, { read: () => undefined as unknown as number, write: () => {} });
    const as = ctx.createAddressSpace('as', mr);
    expect(as.read(0n, new Uint8Array(4))).toBe('access-error');
  });

  it('an MMIO handler re-entering its own region gets access-error, not recursion', () => {
    const ctx = new MemoryContext();
    const root = MemoryRegion.container('root', 0x10000n);
    let inner: unknown = 'not run';
    const dev = {};
    const mr = MemoryRegion.io(
      'dev',
      0x100n,
      {
        read: () => 1,
        write: () => {
          inner = as.read(0x1000n, new Uint8Array(4));
        },
      },
      { owner: dev },
    );
    // Another region of the same owner is guarded too, as QEMU guards per device.
    const sibling = MemoryRegion.io('dev-bar2', 0x100n, { read: () => 2, write: () => {} }, { owner: dev });
    root.addSubregion(0x1000n, mr);
    root.addSubregion(0x2000n, sibling);
    const as = ctx.createAddressSpace('as', root);
    const faults: AccessFault[] = [];
    as.onAccessFault((f) => faults.push(f));
    as.writeU32(0x1000n, 7);
    expect(inner).toBe('access-error');
    expect(faults.map((f) => f.reason)).toEqual(['reentrancy']);
    // The guard is released afterwards.
    expect(as.readU32(0x1000n)).toBe(1);
    expect(as.readU32(0x2000n)).toBe(2);
  });

  it('a handler may access another device', () => {
    const ctx = new MemoryContext();
    const root = MemoryRegion.container('root', 0x10000n);
    const other = MemoryRegion.io('other', 0x100n, { read: () => 0x55, write: () => {} });
    let seen = -1;
    const mr = MemoryRegion.io('dev', 0x100n, {
      read: () => {
        seen = as.readU8(0x2000n);
        return 0;
      },
      write: () => {},
    });
    root.addSubregion(0x1000n, mr);
    root.addSubregion(0x2000n, other);
    const as = ctx.createAddressSpace('as', root);
    as.readU32(0x1000n);
    expect(seen).toBe(0x55);
  });
});

describe('ops validation', () => {
  it.each<[string, unknown]>([
    ['no read', { write: () => {} }],
    ['impl.max 16', { read: () => 0, write: () => {}, impl: { maxAccessSize: 16 } }],
    ['impl.min 8 > max 4', { read: () => 0, write: () => {}, impl: { minAccessSize: 8, maxAccessSize: 4 } }],
    ['valid.min > max', { read: () => 0, write: () => {}, valid: { minAccessSize: 4, maxAccessSize: 2 } }],
    ['impl.min 3', { read: () => 0, write: () => {}, impl: { minAccessSize: 3 } }],
    ['endianness', { read: () => 0, write: () => {}, endianness: 'native' }],
  ])('rejects ops with %s', (_, ops) => {
    expect(() => MemoryRegion.io('x', 4n, ops as MemoryRegionOps)).toThrow(
      expect.objectContaining({ code: 'invalid-ops', context: { regionName: 'x' } }),
    );
  });
});

describe('64-bit ops (impl.maxAccessSize 8)', () => {
  /** A device with one 64-bit register at 0x80 and 32-bit registers below, as QEMU's edu. */
  function qwordDevice(endianness: 'little' | 'big' = 'little') {
    const seen: [number, number | bigint, number][] = [];
    const dev = { dmaSource: 0x1122_3344_5566_7788n, status: 0x5 };
    const ops: MemoryRegionOps64 = {
      read(offset, size) {
        if (offset === 0x80) return dev.dmaSource; // a 4-byte read keeps the low half
        if (offset === 0x20 && size === 4) return dev.status;
        return -1; // all ones, as QEMU's edu returns ~0ULL
      },
      write(offset, value, size) {
        seen.push([offset, value, size]);
        if (size === 8) {
          if (offset === 0x80) dev.dmaSource = value; // value: bigint
        } else if (offset === 0x20) {
          dev.status = value; // value: number
        }
      },
      valid: { minAccessSize: 4, maxAccessSize: 8 },
      impl: { minAccessSize: 4, maxAccessSize: 8 },
      endianness,
    };
    const ctx = new MemoryContext('t');
    const as = ctx.createAddressSpace('bar0', MemoryRegion.io('edu-mmio', 0x100n, ops));
    return { as, dev, seen };
  }

  it('an 8-byte access is one callback with a bigint value', () => {
    const { as, dev, seen } = qwordDevice();
    expect(as.readU64(0x80n)).toBe(0x1122_3344_5566_7788n);
    as.writeU64(0x80n, 0xfedc_ba98_7654_3210n);
    expect(seen).toEqual([[0x80, 0xfedc_ba98_7654_3210n, 8]]);
    expect(dev.dmaSource).toBe(0xfedc_ba98_7654_3210n);
  });

  it('4-byte accesses exchange numbers; bits above the access size are dropped', () => {
    const { as, seen } = qwordDevice();
    expect(as.readU32(0x80n)).toBe(0x5566_7788);
    expect(as.readU32(0x20n)).toBe(5);
    as.writeU32(0x20n, 7);
    expect(seen).toEqual([[0x20, 7, 4]]);
    expect(as.readU32(0x20n)).toBe(7);
  });

  it('a number returned for 8 bytes is taken as an integer (-1 is all ones)', () => {
    const { as } = qwordDevice();
    expect(as.readU64(0x88n)).toBe(0xffff_ffff_ffff_ffffn);
  });

  it('byte accesses of 8 bytes (vfio-user region reads) reach the callback as one 8-byte access', () => {
    const { as, seen } = qwordDevice();
    const buf = new Uint8Array(8);
    expect(as.read(0x80n, buf)).toBe('ok');
    expect([...buf]).toEqual([0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]);
    expect(as.write(0x80n, Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]))).toBe('ok');
    expect(seen).toEqual([[0x80, 0x0807_0605_0403_0201n, 8]]);
  });

  it('big-endian 64-bit callbacks exchange byte-swapped values', () => {
    const { as, dev } = qwordDevice('big');
    dev.dmaSource = 0x0102_0304_0506_0708n;
    const buf = new Uint8Array(8);
    as.read(0x80n, buf);
    expect([...buf]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(as.readU64(0x80n)).toBe(0x0807_0605_0403_0201n);
  });

  it('a read callback returning neither a number nor a bigint is a callback failure', () => {
    const ctx = new MemoryContext();
    const mr = MemoryRegion.io('bad', 0x10n, {
      read: () => 'x' as unknown as bigint,
      write: () => {},
      valid: { maxAccessSize: 8 },
      impl: { maxAccessSize: 8 },
    });
    const as = ctx.createAddressSpace('as', mr);
    const faults: AccessFault[] = [];
    as.onAccessFault((f) => faults.push(f));
    expect(as.readU64(0n)).toBe(0n);
    expect(faults.map((f) => f.reason)).toEqual(['callback-failed']);
  });
});
