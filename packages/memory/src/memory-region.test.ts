import { describe, expect, it } from 'vitest';
import { isMemoryError, type MemoryError } from './errors';
import { MemoryContext } from './memory-context';
import { MemoryRegion } from './memory-region';

const noOps = { read: () => 0, write: () => {} };

function expectMemoryError(
  fn: () => unknown,
  code: string,
  fields: Record<string, unknown> = {},
): MemoryError {
  try {
    fn();
  } catch (e) {
    expect(isMemoryError(e)).toBe(true);
    expect(e).toMatchObject({ code, context: fields });
    return e as MemoryError;
  }
  throw new Error(`expected a MemoryError ${code}`);
}

describe('constructors', () => {
  it('RAM owns a zeroed buffer of its size', () => {
    const r = MemoryRegion.ram('ram', 0x1000n, { owner: 'dev' });
    expect(r.kind).toBe('ram');
    expect(r.ramBuffer?.length).toBe(0x1000);
    expect(r.ramBuffer?.every((b) => b === 0)).toBe(true);
    expect(r.owner).toBe('dev');
    expect(r.readonly).toBe(false);
    expect(r.enabled).toBe(true);
    expect(r.parent).toBeUndefined();
  });

  it('RAM over caller bytes uses them in place', () => {
    const backing = new Uint8Array(0x2000);
    const r = MemoryRegion.ram('dma', 0x1000n, { backing });
    r.ramBuffer![5] = 9;
    expect(backing[5]).toBe(9);
  });

  it('ROM is read-only and cannot be made writable', () => {
    const r = MemoryRegion.rom('bios', 0x100n);
    expect(r.readonly).toBe(true);
    expectMemoryError(() => r.setReadonly(false), 'wrong-kind', { regionName: 'bios' });
  });

  it.each([
    ['zero size', () => MemoryRegion.ram('r', 0n), 'invalid-size'],
    ['negative size', () => MemoryRegion.container('r', -1n), 'invalid-size'],
    ['size above 2^64', () => MemoryRegion.container('r', (1n << 64n) + 1n), 'invalid-size'],
    ['number size', () => MemoryRegion.container('r', 16 as unknown as bigint), 'invalid-size'],
    ['MMIO above 2^53', () => MemoryRegion.io('r', (1n << 53n) + 2n, noOps), 'invalid-size'],
    [
      'backing too small',
      () => MemoryRegion.ram('r', 0x100n, { backing: new Uint8Array(0x10) }),
      'invalid-size',
    ],
    ['maxSize below size', () => MemoryRegion.ram('r', 0x100n, { maxSize: 0x10n }), 'invalid-size'],
    ['huge RAM', () => MemoryRegion.ram('r', 1n << 60n), 'allocation-failed'],
    ['empty name', () => MemoryRegion.container('', 1n), 'invalid-argument'],
    [
      'alias offset out of range',
      () => MemoryRegion.alias('a', MemoryRegion.ram('t', 1n), 1n << 64n, 1n),
      'invalid-address',
    ],
    ['alias of a non-region', () => MemoryRegion.alias('a', {} as MemoryRegion, 0n, 1n), 'invalid-argument'],
    ['IOMMU without translate', () => MemoryRegion.iommu('i', 1n, {} as never), 'invalid-ops'],
    [
      'async ops without write',
      () => MemoryRegion.asyncIo('x', 1n, { read: async () => {} } as never),
      'invalid-ops',
    ],
  ])('rejects %s', (_, fn, code) => {
    expectMemoryError(fn, code);
  });

  it('a 2^64 container is accepted', () => {
    expect(MemoryRegion.container('all', 1n << 64n).size).toBe(1n << 64n);
  });
});

describe('subregions', () => {
  it('addSubregion refuses an overlap with another non-overlapping sibling, naming region and address', () => {
    const root = MemoryRegion.container('root', 0x10000n);
    root.addSubregion(0x1000n, MemoryRegion.ram('a', 0x1000n));
    const e = expectMemoryError(() => root.addSubregion(0x1800n, MemoryRegion.ram('b', 0x1000n)), 'overlap', {
      regionName: 'b',
      address: 0x1800n,
    });
    expect(e.message).toContain('0x1800');
    expect(e.message).toContain('"a"');
    // Touching is not overlapping; overlap siblings are allowed.
    root.addSubregion(0x2000n, MemoryRegion.ram('c', 0x1000n));
    root.addSubregionOverlap(0x1800n, MemoryRegion.ram('d', 0x1000n), 1);
  });

  it('setAddress and setSize keep the no-overlap rule', () => {
    const root = MemoryRegion.container('root', 0x10000n);
    const a = MemoryRegion.ram('a', 0x1000n);
    const b = MemoryRegion.ram('b', 0x1000n, { maxSize: 0x2000n });
    root.addSubregion(0n, a);
    root.addSubregion(0x1000n, b);
    expectMemoryError(() => a.setAddress(0x800n), 'overlap');
    expectMemoryError(() => a.setSize(0x1001n), 'invalid-size'); // beyond a's RAM capacity
    b.setAddress(0x3000n);
    expect(b.address).toBe(0x3000n);
  });

  it('refuses a region that already has a parent', () => {
    const one = MemoryRegion.container('one', 0x100n);
    const two = MemoryRegion.container('two', 0x100n);
    const child = MemoryRegion.ram('child', 0x10n);
    one.addSubregion(0n, child);
    expectMemoryError(() => two.addSubregion(0x20n, child), 'already-has-parent', {
      regionName: 'child',
      address: 0x20n,
    });
    one.removeSubregion(child);
    two.addSubregion(0x20n, child);
    expect(child.parent).toBe(two);
  });

  it('refuses cycles through containers and aliases', () => {
    const a = MemoryRegion.container('a', 0x100n);
    const b = MemoryRegion.container('b', 0x100n);
    a.addSubregion(0n, b);
    expectMemoryError(() => b.addSubregion(0n, a), 'cycle', { regionName: 'a' });
    expectMemoryError(() => a.addSubregionOverlap(0n, a, 1), 'cycle');
    const alias = MemoryRegion.alias('loop', a, 0n, 0x100n);
    expectMemoryError(() => b.addSubregionOverlap(0x10n, alias, 1), 'cycle', { regionName: 'loop' });
    // A chain of aliases back to a container that holds it.
    const alias2 = MemoryRegion.alias('loop2', alias, 0n, 0x10n);
    expectMemoryError(() => b.addSubregionOverlap(0x10n, alias2, 1), 'cycle');
  });

  it('an alias cannot have subregions', () => {
    const alias = MemoryRegion.alias('al', MemoryRegion.ram('t', 0x10n), 0n, 0x10n);
    expectMemoryError(() => alias.addSubregion(0n, MemoryRegion.ram('x', 1n)), 'wrong-kind', {
      regionName: 'al',
    });
  });

  it('removeSubregion of a stranger fails', () => {
    const root = MemoryRegion.container('root', 0x100n);
    expectMemoryError(() => root.removeSubregion(MemoryRegion.ram('x', 1n)), 'not-a-subregion', {
      regionName: 'root',
    });
  });

  it('keeps subregions in resolution order', () => {
    const root = MemoryRegion.container('root', 0x100n);
    const names = ['p0', 'p2', 'p1', 'p2b', 'm1'];
    const prios = [0, 2, 1, 2, -1];
    for (const [i, n] of names.entries()) root.addSubregionOverlap(0n, MemoryRegion.ram(n, 1n), prios[i]!);
    expect(root.subregions.map((r) => r.name)).toEqual(['p2b', 'p2', 'p1', 'p0', 'm1']);
  });

  it('rejects non-integer priorities and non-bigint offsets', () => {
    const root = MemoryRegion.container('root', 0x100n);
    expectMemoryError(() => root.addSubregionOverlap(0n, MemoryRegion.ram('x', 1n), 1.5), 'invalid-argument');
    expectMemoryError(
      () => root.addSubregion(1 as unknown as bigint, MemoryRegion.ram('y', 1n)),
      'invalid-address',
    );
    expectMemoryError(() => root.addSubregion(-1n, MemoryRegion.ram('z', 1n)), 'invalid-address');
  });
});

describe('mutators', () => {
  it('setSize grows RAM within maxSize and the buffer follows', () => {
    const ctx = new MemoryContext();
    const ram = MemoryRegion.ram('ram', 0x1000n, { maxSize: 0x4000n });
    const as = ctx.createAddressSpace('as', ram);
    ram.setSize(0x3000n);
    expect(ram.ramBuffer?.length).toBe(0x3000);
    expect(as.flatView.ranges[0]?.size).toBe(0x3000n);
    expectMemoryError(() => ram.setSize(0x5000n), 'invalid-size', { regionName: 'ram' });
  });

  it('setAliasOffset moves the window; only for aliases', () => {
    const ctx = new MemoryContext();
    const ram = MemoryRegion.ram('ram', 0x100n);
    ram.ramBuffer![0x10] = 0x77;
    const alias = MemoryRegion.alias('w', ram, 0n, 0x10n);
    const as = ctx.createAddressSpace('as', alias);
    alias.setAliasOffset(0x10n);
    expect(as.readU8(0n)).toBe(0x77);
    expectMemoryError(() => ram.setAliasOffset(0n), 'wrong-kind');
  });

  it('setEnabled and setReadonly check their argument', () => {
    const r = MemoryRegion.ram('r', 1n);
    expectMemoryError(() => r.setEnabled('yes' as unknown as boolean), 'invalid-argument');
    expectMemoryError(() => r.setReadonly(1 as unknown as boolean), 'invalid-argument');
  });
});

describe('IOMMU notifiers', () => {
  it('notifies until unsubscribed, and all notifiers run even if one throws', () => {
    const ctx = new MemoryContext();
    const target = ctx.createAddressSpace('t', MemoryRegion.ram('ram', 0x1000n));
    const iommu = MemoryRegion.iommu('iommu', 0x1000n, {
      translate: () => ({
        target,
        translatedAddress: 0n,
        addressMask: 0xfffn,
        perm: { read: true, write: true },
      }),
    });
    const seen: string[] = [];
    const off = iommu.addIommuNotifier(() => seen.push('a'));
    iommu.addIommuNotifier(() => {
      throw new Error('x');
    });
    iommu.addIommuNotifier(() => seen.push('c'));
    const entry = { target, translatedAddress: 0n, addressMask: 0xfffn, perm: { read: false, write: false } };
    expectMemoryError(() => iommu.iommuNotify(entry), 'listener-failed');
    expect(seen).toEqual(['a', 'c']);
    off();
    seen.length = 0;
    expect(() => iommu.iommuNotify(entry)).toThrow();
    expect(seen).toEqual(['c']);
    expectMemoryError(() => MemoryRegion.ram('r', 1n).addIommuNotifier(() => {}), 'wrong-kind');
  });
});
