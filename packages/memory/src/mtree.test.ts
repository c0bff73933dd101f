import { describe, expect, it } from 'vitest';
import { MemoryContext } from './memory-context';
import { MemoryRegion } from './memory-region';
import { dumpMemoryTree } from './mtree';

describe('info mtree', () => {
  it('prints the region tree with absolute ranges, and alias targets after it', () => {
    const sys = MemoryRegion.container('system', 1n << 32n);
    const ram = MemoryRegion.ram('pc.ram', 0x10000n);
    const bar = MemoryRegion.io('bar0', 0x1000n, { read: () => 0, write: () => {} });
    sys.addSubregion(0n, MemoryRegion.alias('ram-below-4g', ram, 0n, 0x8000n));
    sys.addSubregionOverlap(0xfe00_0000n, bar, 1);
    const hole = MemoryRegion.rom('bios', 0x100n);
    hole.setEnabled(false);
    sys.addSubregion(0xffff_ff00n, hole);
    expect(dumpMemoryTree(sys)).toBe(
      [
        '0000000000000000-00000000ffffffff (prio 0, container): system',
        '  0000000000000000-0000000000007fff (prio 0, ram): alias ram-below-4g @pc.ram 0000000000000000-0000000000007fff',
        '  00000000fe000000-00000000fe000fff (prio 1, i/o): bar0',
        '  00000000ffffff00-00000000ffffffff (prio 0, rom): bios [disabled]',
        '',
        'memory-region: pc.ram',
        '0000000000000000-000000000000ffff (prio 0, ram): pc.ram',
        '',
      ].join('\n'),
    );
  });

  it('prints a FlatView with offsets into regions', () => {
    const a = MemoryRegion.container('A', 0x8000n);
    const c = MemoryRegion.io('C', 0x6000n, { read: () => 0, write: () => {} });
    const d = MemoryRegion.ram('D', 0x1000n);
    a.addSubregionOverlap(0n, c, 1);
    a.addSubregionOverlap(0x2000n, d, 2);
    const as = new MemoryContext().createAddressSpace('mem', a);
    expect(as.dumpFlatView()).toBe(
      [
        'FlatView of address space "mem", root: A',
        '  0000000000000000-0000000000001fff (prio 1, i/o): C',
        '  0000000000002000-0000000000002fff (prio 2, ram): D',
        '  0000000000003000-0000000000005fff (prio 1, i/o): C @0000000000003000',
        '',
      ].join('\n'),
    );
    d.setEnabled(false);
    c.setEnabled(false);
    expect(as.dumpFlatView()).toContain('No rendered FlatView');
  });
});
