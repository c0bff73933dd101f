import { describe, expect, it } from 'vitest';
import { MemoryContext } from './memory-context';
import { MemoryRegion } from './memory-region';
import type { AccessFault, IommuTlbEntry } from './types';

/** A device DMA space behind an IOMMU that maps IOVA page 0x1000 -> 0x5000 (rw), 0x2000 -> 0x9000 (ro). */
function setup() {
  const ctx = new MemoryContext('bus0');
  const sysRoot = MemoryRegion.container('system', 1n << 64n);
  const ram = MemoryRegion.ram('guest-ram', 0x10000n);
  sysRoot.addSubregion(0n, ram);
  const system = ctx.createAddressSpace('system', sysRoot);
  const calls: [bigint, string][] = [];
  const iommu = MemoryRegion.iommu('iommu', 1n << 64n, {
    translate(address, access): IommuTlbEntry {
      calls.push([address, access]);
      const page = address & ~0xfffn;
      if (page === 0x1000n)
        return {
          target: system,
          translatedAddress: 0x5000n,
          addressMask: 0xfffn,
          perm: { read: true, write: true },
        };
      if (page === 0x2000n)
        return {
          target: system,
          translatedAddress: 0x9000n,
          addressMask: 0xfffn,
          perm: { read: true, write: false },
        };
      return {
        target: system,
        translatedAddress: 0n,
        addressMask: 0xfffn,
        perm: { read: false, write: false },
      };
    },
  });
  const dma = ctx.createAddressSpace('dma', iommu);
  const faults: AccessFault[] = [];
  dma.onAccessFault((f) => faults.push(f));
  return { ctx, ram, system, iommu, dma, calls, faults };
}

describe('IOMMU regions', () => {
  it('translate and continue in the target address space', () => {
    const s = setup();
    s.dma.writeU32(0x1010n, 0xfeedface);
    expect(s.system.readU32(0x5010n)).toBe(0xfeedface);
    expect(s.dma.readU32(0x1010n)).toBe(0xfeedface);
    expect(s.calls).toEqual([
      [0x1010n, 'write'],
      [0x1010n, 'read'],
    ]);
  });

  it('split an access at page boundaries, translating each page', () => {
    const s = setup();
    s.ram.ramBuffer!.set([1, 2], 0x5ffe);
    s.ram.ramBuffer!.set([3, 4], 0x9000);
    const dest = new Uint8Array(4);
    expect(s.dma.read(0x1ffen, dest)).toBe('ok');
    expect([...dest]).toEqual([1, 2, 3, 4]);
    expect(s.calls.map((c) => c[0])).toEqual([0x1ffen, 0x2000n]);
  });

  it('check permissions: a write to a read-only page is an access-error and changes nothing', () => {
    const s = setup();
    expect(s.dma.write(0x2000n, new Uint8Array([7]))).toBe('access-error');
    expect(s.ram.ramBuffer![0x9000]).toBe(0);
    expect(s.dma.read(0x3000n, new Uint8Array(1))).toBe('access-error');
    expect(s.faults.map((f) => [f.reason, f.address])).toEqual([
      ['iommu-permission', 0x2000n],
      ['iommu-permission', 0x3000n],
    ]);
  });

  it('a translate that throws or returns garbage is an access-error', () => {
    const ctx = new MemoryContext();
    let entry: unknown = {
      target: 'nope',
      translatedAddress: 0n,
      addressMask: 0xfffn,
      perm: { read: true, write: true },
    };
    const iommu = MemoryRegion.iommu('bad', 0x10000n, { translate: () => entry as IommuTlbEntry });
    const as = ctx.createAddressSpace('as', iommu);
    const faults: AccessFault[] = [];
    as.onAccessFault((f) => faults.push(f));
    expect(as.read(0n, new Uint8Array(4))).toBe('access-error');
    entry = undefined;
    expect(as.readU32(0n)).toBe(0);
    expect(faults.map((f) => f.reason)).toEqual(['iommu-translate-failed', 'iommu-translate-failed']);
    expect(faults[0]?.cause).toMatchObject({ name: 'MemoryError', code: 'invalid-argument' });
  });

  it('an IOMMU that translates into itself stops after a bounded depth', () => {
    const ctx = new MemoryContext();
    const self: { as?: ReturnType<MemoryContext['createAddressSpace']> } = {};
    const iommu = MemoryRegion.iommu('loop', 0x10000n, {
      translate: () => ({
        target: self.as!,
        translatedAddress: 0n,
        addressMask: 0xfffn,
        perm: { read: true, write: true },
      }),
    });
    self.as = ctx.createAddressSpace('as', iommu);
    const faults: AccessFault[] = [];
    self.as.onAccessFault((f) => faults.push(f));
    expect(self.as.read(0n, new Uint8Array(1))).toBe('access-error');
    expect(faults.map((f) => f.reason)).toEqual(['iommu-depth']);
  });

  it('async accesses translate too', async () => {
    const s = setup();
    expect(await s.dma.writeAsync(0x1000n, new Uint8Array([9, 8]))).toBe('ok');
    expect([...s.ram.ramBuffer!.subarray(0x5000, 0x5002)]).toEqual([9, 8]);
    const dest = new Uint8Array(2);
    expect(await s.dma.readAsync(0x1000n, dest)).toBe('ok');
    expect([...dest]).toEqual([9, 8]);
    expect(await s.dma.writeAsync(0x2000n, new Uint8Array([1]))).toBe('access-error');
  });
});
