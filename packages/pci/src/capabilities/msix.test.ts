import { MemoryRegion } from '@vfu/memory';
import { describe, expect, test } from 'vitest';
import { singleDevice } from '../../test/helpers';
import * as R from '../regs';

function msixDevice(vectors = 4) {
  const env = singleDevice((d) => d.msixInitExclusiveBar(vectors, 1));
  const { dev } = env;
  const cap = dev.msix?.offset as number;
  const bar = dev.bar(1);
  if (bar === undefined) throw new Error('no BAR 1');
  const w32 = (off: number, v: number) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v >>> 0, true);
    return bar.write(BigInt(off), b);
  };
  const r32 = (off: number) => {
    const b = new Uint8Array(4);
    bar.read(BigInt(off), b);
    return new DataView(b.buffer).getUint32(0, true);
  };
  const entry = (v: number, lo: number, hi: number, data: number, ctrl: number) => {
    w32(v * 16, lo);
    w32(v * 16 + 4, hi);
    w32(v * 16 + 8, data);
    w32(v * 16 + 12, ctrl);
  };
  const control = (v: number) => dev.configWrite(cap + R.PCI_MSIX_FLAGS, v, 2);
  dev.configWrite(R.PCI_COMMAND, R.PCI_COMMAND_MASTER, 2);
  return { ...env, cap, bar, w32, r32, entry, control, pbaOffset: dev.msix?.pbaOffset as number };
}

describe('MSI-X', () => {
  test('capability registers and exclusive BAR layout follow QEMU', () => {
    const { dev, cap, bar } = msixDevice(4);
    expect(bar.size).toBe(0x1000n);
    expect(dev.configRead(cap + R.PCI_MSIX_FLAGS, 2)).toBe(3);
    expect(dev.configRead(cap + R.PCI_MSIX_TABLE, 4)).toBe(0x0 | 1);
    expect(dev.configRead(cap + R.PCI_MSIX_PBA, 4)).toBe(0x800 | 1);
    dev.configWrite(cap + R.PCI_MSIX_FLAGS, 0xffff, 2);
    expect(dev.configRead(cap + R.PCI_MSIX_FLAGS, 2)).toBe(0xc003);
    expect(dev.irqInfo().msixVectors).toBe(4);
  });

  test('large tables grow the exclusive BAR', () => {
    const { bar, pbaOffset } = msixDevice(256);
    expect(pbaOffset).toBe(0x1000);
    expect(bar.size).toBe(0x2000n);
  });

  test('all vectors start masked; table reads back what was written', () => {
    const { r32, w32, dev } = msixDevice();
    expect(r32(12)).toBe(1);
    expect(dev.msix?.isVectorMasked(3)).toBe(true);
    w32(16, 0xfee01000);
    expect(r32(16)).toBe(0xfee01000);
    const q = new Uint8Array(8);
    expect(dev.bar(1)?.read(16n, q)).toBe('ok'); // qword accesses are split
    expect(new DataView(q.buffer).getUint32(0, true)).toBe(0xfee01000);
  });

  test('a masked vector sets its PBA bit; unmasking the entry delivers and clears it', () => {
    const { dev, sink, entry, control, r32, w32, pbaOffset } = msixDevice();
    control(R.PCI_MSIX_FLAGS_ENABLE);
    entry(2, 0xfee00000, 0, 0x31, 1);
    expect(dev.msixNotify(2)).toBe('pending');
    expect(r32(pbaOffset)).toBe(0b100);
    w32(pbaOffset, 0); // PBA is read-only
    expect(r32(pbaOffset)).toBe(0b100);
    w32(2 * 16 + 12, 0);
    expect(sink.msixs).toEqual([{ vector: 2, message: { address: 0xfee00000n, data: 0x31 } }]);
    expect(r32(pbaOffset)).toBe(0);
    expect(dev.msixNotify(2)).toBe('delivered');
    expect(sink.events).toContainEqual({ kind: 'msix-vector-mask', vector: 2, masked: false });
  });

  test('function mask holds every vector pending until cleared', () => {
    const { dev, sink, entry, control } = msixDevice();
    entry(0, 0xfee00000, 0, 0x40, 0);
    entry(1, 0xfee00000, 0, 0x41, 0);
    control(R.PCI_MSIX_FLAGS_ENABLE | R.PCI_MSIX_FLAGS_MASKALL);
    expect(dev.msixNotify(1)).toBe('pending');
    expect(dev.msixNotify(0)).toBe('pending');
    expect(sink.msixs).toEqual([]);
    control(R.PCI_MSIX_FLAGS_ENABLE);
    expect(sink.msixs.map((m) => m.message.data)).toEqual([0x40, 0x41]);
    expect(dev.msix?.isPending(0)).toBe(false);
    expect(sink.events).toContainEqual({ kind: 'msix-enable', enabled: true, functionMasked: true });
    expect(sink.events).toContainEqual({ kind: 'msix-enable', enabled: true, functionMasked: false });
  });

  test('while MSI-X is disabled a notification waits in the PBA (QEMU msix_notify)', () => {
    const { dev, sink, entry, control } = msixDevice();
    entry(3, 0xfee00000, 0, 0x77, 0);
    expect(dev.msixNotify(3)).toBe('pending');
    control(R.PCI_MSIX_FLAGS_ENABLE);
    expect(sink.msixs.map((m) => m.vector)).toEqual([3]);
  });

  test('bus master off blocks delivery; enabling MSI-X deasserts INTx; reset masks everything', () => {
    const { dev, sink, entry, control, r32 } = msixDevice();
    dev.intxAssert();
    control(R.PCI_MSIX_FLAGS_ENABLE);
    expect(sink.intxLevels).toEqual([true, false]);
    entry(0, 0xfee00000, 0, 1, 0);
    dev.configWrite(R.PCI_COMMAND, 0, 2);
    expect(dev.msixNotify(0)).toBe('blocked');
    dev.reset('warm');
    expect(dev.msix?.enabled).toBe(false);
    expect(r32(12)).toBe(1);
    expect(r32(0)).toBe(0);
    expect(() => dev.msixNotify(4)).toThrow(/out of range/);
  });

  test('table and PBA can overlay a device BAR with its own registers', () => {
    const log: string[] = [];
    const { dev } = singleDevice((d) => {
      d.registerBar(0, {
        kind: 'mem32',
        region: MemoryRegion.io('regs', 0x4000n, {
          read: (off) => off,
          write: (off, v) => log.push(`${off}=${v}`),
        }),
      });
      d.msixInit({ vectors: 2, tableBar: 0, tableOffset: 0x2000, pbaBar: 0, pbaOffset: 0x3000 });
    });
    const bar = dev.bar(0);
    const b = new Uint8Array(4);
    bar?.read(0x10n, b);
    expect(new DataView(b.buffer).getUint32(0, true)).toBe(0x10);
    bar?.read(0x200cn, b);
    expect(new DataView(b.buffer).getUint32(0, true)).toBe(1);
    expect(() =>
      singleDevice((d) => {
        d.registerBar(0, { kind: 'mem32', region: MemoryRegion.ram('r', 0x1000n) });
        d.msixInit({ vectors: 2, tableBar: 0, tableOffset: 0, pbaBar: 0, pbaOffset: 0x10 });
      }),
    ).toThrow(/overlaps/);
    expect(() =>
      singleDevice((d) =>
        d.msixInit({ vectors: 2, tableBar: 0, tableOffset: 0, pbaBar: 0, pbaOffset: 0x100 }),
      ),
    ).toThrow(/registered/);
  });

  test('RAM BAR mmap areas exclude the MSI-X pages', () => {
    const { dev } = singleDevice((d) => {
      d.registerBar(0, { kind: 'mem64', region: MemoryRegion.ram('ram', 0x10000n) });
      d.msixInit({ vectors: 8, tableBar: 0, tableOffset: 0x8000, pbaBar: 0, pbaOffset: 0x9000 });
    });
    expect(
      dev
        .bar(0)
        ?.mmapAreas()
        .map((a) => [a.offset, a.size]),
    ).toEqual([
      [0n, 0x8000n],
      [0xa000n, 0x6000n],
    ]);
  });
});
