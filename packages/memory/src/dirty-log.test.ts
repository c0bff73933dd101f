import { describe, expect, it } from 'vitest';
import { MemoryContext } from './memory-context';
import { MemoryRegion } from './memory-region';

function setup() {
  const ctx = new MemoryContext();
  const root = MemoryRegion.container('root', 1n << 64n);
  const ram = MemoryRegion.ram('ram', 0x10000n);
  root.addSubregion(0x10000n, ram);
  const as = ctx.createAddressSpace('as', root);
  return { ram, as };
}

describe('dirty logging', () => {
  it('marks pages written through the AddressSpace, by every access path', () => {
    const { ram, as } = setup();
    ram.setDirtyLogging(true);
    as.writeU8(0x10000n, 1); // page 0
    as.writeU32(0x11ffen, 1); // straddles pages 1 and 2
    as.writeU64(0x14000n, 1n); // page 4
    as.write(0x17fffn, new Uint8Array(2)); // pages 7 and 8
    expect([...ram.getAndClearDirty(0n, 0x10000n)]).toEqual([0b10010111, 0b00000001]);
    // Get-and-clear: a second read is clean.
    expect([...ram.getAndClearDirty(0n, 0x10000n)]).toEqual([0, 0]);
  });

  it('reads do not dirty pages', () => {
    const { ram, as } = setup();
    ram.setDirtyLogging(true);
    as.readU32(0x10000n);
    as.read(0x10000n, new Uint8Array(0x100));
    expect([...ram.getAndClearDirty(0n, 0x10000n)]).toEqual([0, 0]);
  });

  it('markDirty covers writes made directly into ramBuffer', () => {
    const { ram } = setup();
    ram.setDirtyLogging(true, 0x1000);
    ram.ramBuffer!.fill(1, 0x3000, 0x3001);
    ram.markDirty(0x3000n, 1n);
    ram.markDirty(0x5fffn, 0x1002n); // pages 5, 6, 7
    expect([...ram.getAndClearDirty(0n, 0x10000n)]).toEqual([0b11101000, 0]);
  });

  it('get-and-clear of a sub-range reports bits relative to the range and clears only it', () => {
    const { ram, as } = setup();
    ram.setDirtyLogging(true, 0x1000);
    for (let p = 0; p < 16; p++) as.writeU8(0x10000n + BigInt(p) * 0x1000n, 1);
    expect([...ram.getAndClearDirty(0x4000n, 0x3000n)]).toEqual([0b111]);
    expect([...ram.getAndClearDirty(0n, 0x10000n)]).toEqual([0b10001111, 0xff]);
  });

  it('honours the page size and can be switched off', () => {
    const { ram, as } = setup();
    ram.setDirtyLogging(true, 0x100);
    as.writeU8(0x10250n, 1);
    expect([...ram.getAndClearDirty(0x200n, 0x100n)]).toEqual([1]);
    ram.setDirtyLogging(false);
    expect(ram.dirtyLogging).toBe(false);
    as.writeU8(0x10250n, 1);
    expect(() => ram.getAndClearDirty(0n, 0x100n)).toThrow(
      expect.objectContaining({ code: 'dirty-logging-off' }),
    );
  });

  it('rejects bad arguments with typed errors', () => {
    const { ram } = setup();
    ram.setDirtyLogging(true);
    expect(() => ram.getAndClearDirty(0x10n, 0x1000n)).toThrow(
      expect.objectContaining({ code: 'misaligned' }),
    );
    expect(() => ram.getAndClearDirty(0n, 0x10001n)).toThrow(
      expect.objectContaining({ code: 'out-of-range', context: { regionName: 'ram', address: 0n } }),
    );
    expect(() => ram.markDirty(0xffffn, 2n)).toThrow(expect.objectContaining({ code: 'out-of-range' }));
    expect(() => ram.setDirtyLogging(true, 3000)).toThrow(
      expect.objectContaining({ code: 'invalid-argument' }),
    );
    expect(() => MemoryRegion.container('c', 1n).setDirtyLogging(true)).toThrow(
      expect.objectContaining({ code: 'not-ram' }),
    );
  });

  it('keeps the bitmap across a resize', () => {
    const ram = MemoryRegion.ram('r', 0x2000n, { maxSize: 0x8000n });
    ram.setDirtyLogging(true);
    ram.markDirty(0x1000n, 1n);
    ram.setSize(0x8000n);
    ram.markDirty(0x7000n, 1n);
    expect([...ram.getAndClearDirty(0n, 0x8000n)]).toEqual([0b10000010]);
  });
});
