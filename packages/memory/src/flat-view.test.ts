import { describe, expect, it } from 'vitest';
import { MemoryContext } from './memory-context';
import { MemoryRegion } from './memory-region';
import type { FlatRange } from './types';

const noOps = { read: () => 0, write: () => {} };

/** A flat view as `[name, start, end-exclusive, offsetInRegion]` rows, easy to write out by hand. */
function flat(root: MemoryRegion): [string, number, number, number][] {
  const as = new MemoryContext().createAddressSpace('as', root);
  return as.flatView.ranges.map((r: FlatRange) => [
    r.region.name,
    Number(r.start),
    Number(r.start + r.size),
    Number(r.offsetInRegion),
  ]);
}

/** The overlap example of QEMU's docs/devel/memory.rst. */
function memoryRstExample(bHasOps: boolean) {
  const a = MemoryRegion.container('A', 0x8000n);
  const b = bHasOps ? MemoryRegion.io('B', 0x4000n, noOps) : MemoryRegion.container('B', 0x4000n);
  const c = MemoryRegion.io('C', 0x6000n, noOps);
  const d = MemoryRegion.ram('D', 0x1000n);
  const e = MemoryRegion.ram('E', 0x1000n);
  a.addSubregionOverlap(0x2000n, b, 2);
  a.addSubregionOverlap(0n, c, 1);
  b.addSubregion(0n, d);
  b.addSubregion(0x2000n, e);
  return { a, b, c, d, e };
}

describe('rendering: the memory.rst overlap example', () => {
  it('a container B in front of C lets C show through its holes', () => {
    const { a } = memoryRstExample(false);
    expect(flat(a)).toEqual([
      ['C', 0x0000, 0x2000, 0x0000],
      ['D', 0x2000, 0x3000, 0x0000],
      ['C', 0x3000, 0x4000, 0x3000],
      ['E', 0x4000, 0x5000, 0x0000],
      ['C', 0x5000, 0x6000, 0x5000],
      // 0x6000..0x7fff: unassigned
    ]);
  });

  it('if B has its own MMIO ops, B fills its own holes instead of C', () => {
    const { a } = memoryRstExample(true);
    expect(flat(a)).toEqual([
      ['C', 0x0000, 0x2000, 0x0000],
      ['D', 0x2000, 0x3000, 0x0000],
      ['B', 0x3000, 0x4000, 0x1000],
      ['E', 0x4000, 0x5000, 0x0000],
      ['B', 0x5000, 0x6000, 0x3000],
    ]);
  });

  it('disabling B shows C everywhere, as if B were deleted', () => {
    const { a, b } = memoryRstExample(true);
    b.setEnabled(false);
    expect(flat(a)).toEqual([['C', 0, 0x6000, 0]]);
  });
});

describe('rendering rules', () => {
  it('higher priority wins regardless of insertion order', () => {
    const root = MemoryRegion.container('root', 0x100n);
    root.addSubregionOverlap(0n, MemoryRegion.ram('hi', 0x40n), 5);
    root.addSubregionOverlap(0x20n, MemoryRegion.ram('lo', 0x40n), -1);
    expect(flat(root)).toEqual([
      ['hi', 0, 0x40, 0],
      ['lo', 0x40, 0x60, 0x20],
    ]);
  });

  it('among equal priorities the most recently added wins', () => {
    const root = MemoryRegion.container('root', 0x100n);
    const first = MemoryRegion.ram('first', 0x40n);
    const second = MemoryRegion.ram('second', 0x40n);
    root.addSubregionOverlap(0n, first, 0);
    root.addSubregionOverlap(0x20n, second, 0);
    expect(flat(root)).toEqual([
      ['first', 0, 0x20, 0],
      ['second', 0x20, 0x60, 0],
    ]);
    // setAddress re-inserts, so the moved region becomes the newest.
    first.setAddress(0x10n);
    expect(flat(root)).toEqual([
      ['first', 0x10, 0x50, 0],
      ['second', 0x50, 0x60, 0x30],
    ]);
  });

  it('priorities are local to a container', () => {
    const root = MemoryRegion.container('root', 0x100n);
    const inner = MemoryRegion.container('inner', 0x100n);
    inner.addSubregionOverlap(0n, MemoryRegion.ram('deep', 0x10n), 1000);
    root.addSubregionOverlap(0n, inner, 0);
    root.addSubregionOverlap(0n, MemoryRegion.ram('top', 0x8n), 1);
    expect(flat(root)).toEqual([
      ['top', 0, 8, 0],
      ['deep', 8, 0x10, 8],
    ]);
  });

  it('an alias shows its target window, cancelling the target own offset', () => {
    const root = MemoryRegion.container('root', 0x10000n);
    const ram = MemoryRegion.ram('ram', 0x4000n);
    root.addSubregion(0x4000n, ram);
    root.addSubregion(0x8000n, MemoryRegion.alias('hi-window', ram, 0x1000n, 0x2000n));
    expect(flat(root)).toEqual([
      ['ram', 0x4000, 0x8000, 0],
      ['ram', 0x8000, 0xa000, 0x1000],
    ]);
  });

  it('an alias window is clipped to its target', () => {
    const ram = MemoryRegion.ram('ram', 0x1000n);
    const root = MemoryRegion.container('root', 0x10000n);
    root.addSubregion(0n, MemoryRegion.alias('a', ram, 0x800n, 0x2000n));
    expect(flat(root)).toEqual([['ram', 0, 0x800, 0x800]]);
  });

  it('subregions are clipped to their container', () => {
    const root = MemoryRegion.container('root', 0x1000n);
    root.addSubregion(0xf00n, MemoryRegion.ram('r', 0x1000n));
    expect(flat(root)).toEqual([['r', 0xf00, 0x1000, 0]]);
  });

  it('a RAM region with subregions serves the addresses they leave', () => {
    const ram = MemoryRegion.ram('ram', 0x100n);
    ram.addSubregion(0x40n, MemoryRegion.io('hole', 0x10n, noOps));
    expect(flat(ram)).toEqual([
      ['ram', 0, 0x40, 0],
      ['hole', 0x40, 0x50, 0],
      ['ram', 0x50, 0x100, 0x50],
    ]);
  });

  it('merges neighbouring pieces of the same region (flatview_simplify)', () => {
    const ram = MemoryRegion.ram('ram', 0x2000n);
    const root = MemoryRegion.container('root', 0x10000n);
    root.addSubregion(0n, MemoryRegion.alias('lo', ram, 0n, 0x1000n));
    root.addSubregion(0x1000n, MemoryRegion.alias('hi', ram, 0x1000n, 0x1000n));
    expect(flat(root)).toEqual([['ram', 0, 0x2000, 0]]);
  });

  it('read-only is inherited from aliases on the path', () => {
    const ram = MemoryRegion.ram('ram', 0x1000n);
    const ro = MemoryRegion.alias('ro-window', ram, 0n, 0x1000n);
    ro.setReadonly(true);
    const root = MemoryRegion.container('root', 0x10000n);
    root.addSubregion(0n, ro);
    root.addSubregion(0x1000n, MemoryRegion.alias('rw-window', ram, 0n, 0x1000n));
    const as = new MemoryContext().createAddressSpace('as', root);
    expect(as.flatView.ranges.map((r) => [Number(r.start), r.readonly])).toEqual([
      [0, true],
      [0x1000, false],
    ]);
    expect(as.writeU8(0n, 1)).toBeUndefined();
    expect(ram.ramBuffer![0]).toBe(0);
    as.writeU8(0x1000n, 1);
    expect(ram.ramBuffer![0]).toBe(1);
  });

  it('a disabled alias target hides the alias', () => {
    const ram = MemoryRegion.ram('ram', 0x1000n);
    const root = MemoryRegion.container('root', 0x10000n);
    root.addSubregion(0n, MemoryRegion.alias('a', ram, 0n, 0x1000n));
    ram.setEnabled(false);
    expect(flat(root)).toEqual([]);
  });

  it('handles a 2^64 container and regions above 4 GiB and near the top', () => {
    const root = MemoryRegion.container('pci-mem', 1n << 64n);
    root.addSubregion(0x1_0000_0000n, MemoryRegion.ram('above-4g', 0x1000n));
    root.addSubregion(0xffff_ffff_ffff_f000n, MemoryRegion.ram('top', 0x1000n));
    const as = new MemoryContext().createAddressSpace('as', root);
    expect(as.flatView.ranges.map((r) => [r.region.name, r.start, r.size])).toEqual([
      ['above-4g', 0x1_0000_0000n, 0x1000n],
      ['top', 0xffff_ffff_ffff_f000n, 0x1000n],
    ]);
    as.writeU32(0x1_0000_0004n, 0xcafe);
    expect(as.readU32(0x1_0000_0004n)).toBe(0xcafe);
    as.writeU64(0xffff_ffff_ffff_fff8n, 0x0102030405060708n);
    expect(as.readU64(0xffff_ffff_ffff_fff8n)).toBe(0x0102030405060708n);
    expect(as.flatView.lookup(0xffff_ffff_ffff_ffffn)?.region.name).toBe('top');
    expect(as.flatView.lookup(0xffff_ffff_ffff_efffn)).toBeUndefined();
    // 2^53 + 1 is not representable as a number: looked up exactly all the same.
    root.addSubregion(1n << 53n, MemoryRegion.ram('at-2^53', 1n));
    expect(as.flatView.lookup((1n << 53n) + 1n)).toBeUndefined();
    expect(as.flatView.lookup(1n << 53n)?.region.name).toBe('at-2^53');
  });

  it('an address space rooted at a mapped region sees it from 0', () => {
    const bus = MemoryRegion.container('bus', 1n << 32n);
    const bar = MemoryRegion.container('bar0', 0x1000n);
    bar.addSubregion(0x100n, MemoryRegion.ram('table', 0x100n));
    bus.addSubregion(0xfe00_0000n, bar);
    const ctx = new MemoryContext();
    const barAs = ctx.createAddressSpace('bar0', bar);
    expect(barAs.flatView.ranges.map((r) => Number(r.start))).toEqual([0x100]);
  });
});
