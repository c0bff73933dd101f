import { describe, expect, it } from 'vitest';
import { AddressSpace } from './address-space';
import { MemoryContext } from './memory-context';
import { MemoryRegion } from './memory-region';

describe('MemoryContext', () => {
  it('owns the address spaces it creates, including ones built with new AddressSpace', () => {
    const ctx = new MemoryContext('bus0');
    const a = ctx.createAddressSpace('mem', MemoryRegion.container('mem', 1n << 64n));
    const root = MemoryRegion.container('io', 0x10000n);
    const b = new AddressSpace(ctx, 'io', root);
    expect(ctx.addressSpaces).toEqual([a, b]);
    expect(a.context).toBe(ctx);
    ctx.transaction(() => root.addSubregion(0n, MemoryRegion.ram('r', 1n)));
    expect(b.flatView.ranges).toHaveLength(1);
  });

  it('rejects bad arguments', () => {
    const ctx = new MemoryContext();
    expect(() => ctx.createAddressSpace('', MemoryRegion.ram('r', 1n))).toThrow(
      expect.objectContaining({ code: 'invalid-argument' }),
    );
    expect(() => ctx.createAddressSpace('x', {} as MemoryRegion)).toThrow(
      expect.objectContaining({ code: 'invalid-argument' }),
    );
    expect(() => new AddressSpace({} as MemoryContext, 'x', MemoryRegion.ram('r', 1n))).toThrow(
      expect.objectContaining({ code: 'invalid-argument' }),
    );
    expect(() => new MemoryContext(5 as unknown as string)).toThrow(
      expect.objectContaining({ code: 'invalid-argument' }),
    );
  });

  it('one region shown by address spaces of two contexts renders in each, each by its own transactions', () => {
    const shared = MemoryRegion.container('shared', 0x1000n);
    const c1 = new MemoryContext('one');
    const c2 = new MemoryContext('two');
    const a1 = c1.createAddressSpace('a1', shared);
    const a2 = c2.createAddressSpace('a2', shared);
    c1.begin();
    shared.addSubregion(0n, MemoryRegion.ram('r', 0x10n));
    // c2 has no open transaction: it renders at once; c1 waits for its commit.
    expect(a2.flatView.ranges).toHaveLength(1);
    expect(a1.flatView.ranges).toHaveLength(0);
    c1.commit();
    expect(a1.flatView.ranges).toHaveLength(1);
  });
});
