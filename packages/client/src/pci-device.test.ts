import { VfioPciIrq } from '@vfu/protocol';
import { describe, expect, it } from 'vitest';
import { ClientError } from './errors';
import { parseMsixCapability } from './pci-config';
import { MSI_ADDRESS_BASE, PciDeviceHandle, type PciTarget } from './pci-device';
import type { IrqInfo, RegionInfo } from './replies';

/** BAR layout of the fake: size and low type bits. */
const BARS: { size: bigint; type: number }[] = [
  { size: 0x10_0000n, type: 0x0 }, // BAR0: 32-bit memory, 1 MiB
  { size: 0x100n, type: 0x1 }, // BAR1: IO, 256 bytes
  { size: 0x100_0000n, type: 0xc }, // BAR2/3: 64-bit prefetchable, 16 MiB
  { size: 0n, type: 0 },
  { size: 0x1000n, type: 0x0 }, // BAR4: 32-bit memory holding the MSI-X table
  { size: 0n, type: 0 },
];

/** A PCI function in memory: config space with BAR masks and capabilities, BAR4 as plain memory. */
class FakeDevice implements PciTarget {
  readonly config = new Uint8Array(256);
  readonly bar4 = new Uint8Array(0x1000);
  readonly enabled: { index: number; start?: number; count?: number }[] = [];
  readonly irqs: IrqInfo[] = [
    {
      index: 0,
      name: 'INTx',
      count: 1,
      flags: 1,
      eventfd: true,
      maskable: false,
      automasked: false,
      noResize: false,
    },
    {
      index: 1,
      name: 'MSI',
      count: 4,
      flags: 1,
      eventfd: true,
      maskable: false,
      automasked: false,
      noResize: false,
    },
    {
      index: 2,
      name: 'MSI-X',
      count: 4,
      flags: 1,
      eventfd: true,
      maskable: false,
      automasked: false,
      noResize: false,
    },
  ];
  readonly #view = new DataView(this.config.buffer);

  constructor() {
    const v = this.#view;
    v.setUint16(0, 0x1234, true);
    v.setUint16(2, 0x11e8, true);
    v.setUint16(6, 0x10, true); // capability list
    v.setUint8(0x34, 0x40);
    for (const [i, b] of BARS.entries()) if (b.size > 0n) v.setUint32(0x10 + 4 * i, b.type, true);
    // MSI at 0x40: 64-bit, 4 vectors capable (QMASK = 2).
    v.setUint8(0x40, 0x05);
    v.setUint8(0x41, 0x50);
    v.setUint16(0x42, 0x80 | (2 << 1), true);
    // MSI-X at 0x50: 4 entries, table in BAR4 at 0, PBA in BAR4 at 0x800.
    v.setUint8(0x50, 0x11);
    v.setUint8(0x51, 0x00);
    v.setUint16(0x52, 3, true);
    v.setUint32(0x54, 4, true);
    v.setUint32(0x58, 0x800 | 4, true);
  }

  region(index: number): RegionInfo {
    const size = index === 7 ? 256n : index < 6 ? (BARS[index]?.size ?? 0n) : 0n;
    return {
      index,
      name: `R${index}`,
      size,
      offset: 0n,
      flags: 3,
      readable: true,
      writable: true,
      mmappable: false,
      mmapAreas: [],
      hasFd: false,
    };
  }

  async regionRead(index: number, offset: bigint | number, length: number): Promise<Uint8Array> {
    const off = Number(offset);
    const src = index === 7 ? this.config : index === 4 ? this.bar4 : undefined;
    if (src === undefined) throw new ClientError('out-of-range', 'no such region');
    return src.slice(off, off + length);
  }

  async regionWrite(index: number, offset: bigint | number, data: Uint8Array): Promise<void> {
    const off = Number(offset);
    if (index === 4) {
      this.bar4.set(data, off);
      return;
    }
    if (index !== 7) throw new ClientError('out-of-range', 'no such region');
    for (let i = 0; i < data.length; i++) this.#writeByte(off + i, data[i] as number);
  }

  #writeByte(offset: number, value: number): void {
    if (offset >= 0x10 && offset < 0x28) {
      // BAR bytes: writable bits are those above the size; 64-bit BAR upper dword all writable.
      const bar = Math.floor((offset - 0x10) / 4);
      const byte = (offset - 0x10) % 4;
      const lowerOf64 = bar > 0 && (BARS[bar - 1]?.type ?? 0) === 0xc ? BARS[bar - 1] : undefined;
      let mask: bigint;
      if (lowerOf64) mask = (~(lowerOf64.size - 1n) >> 32n) & 0xffff_ffffn;
      else {
        const b = BARS[bar] as { size: bigint; type: number };
        mask =
          b.size === 0n ? 0n : ~(b.size - 1n) & 0xffff_fff0n & (b.type & 1 ? 0xffff_fffcn : 0xffff_fff0n);
      }
      const m = Number((mask >> BigInt(8 * byte)) & 0xffn);
      this.config[offset] = ((this.config[offset] as number) & ~m) | (value & m);
      return;
    }
    this.config[offset] = value;
  }

  async enableIrq(index: number, options: { start?: number; count?: number } = {}): Promise<void> {
    this.enabled.push({ index, ...options });
  }
}

describe('PciDeviceHandle', () => {
  it('sizes 32-bit, IO and 64-bit BARs and restores them and COMMAND', async () => {
    const dev = new FakeDevice();
    dev.config[4] = 0x07;
    const pci = new PciDeviceHandle(dev);
    const bars = await pci.sizeBars();
    expect(bars.map((b) => [b.index, b.kind, b.size, b.prefetchable])).toEqual([
      [0, 'mem32', 0x10_0000n, false],
      [1, 'io', 0x100n, false],
      [2, 'mem64', 0x100_0000n, true],
      [4, 'mem32', 0x1000n, false],
    ]);
    expect(bars[2]?.regionSize).toBe(0x100_0000n);
    expect(dev.config[4]).toBe(0x07);
    expect(new DataView(dev.config.buffer).getUint32(0x10, true)).toBe(0);
  });

  it('assigns 32-bit BARs below 4 GiB, 64-bit above and IO in the IO window', async () => {
    const dev = new FakeDevice();
    const pci = new PciDeviceHandle(dev);
    const plan = await pci.assignBars();
    const v = new DataView(dev.config.buffer);
    expect(plan.map((p) => [p.bar.index, p.address])).toEqual([
      [0, 0xe000_0000n],
      [1, 0xc000n],
      [2, 0x10_0000_0000n],
      [4, 0xe010_0000n],
    ]);
    expect(v.getUint32(0x10, true)).toBe(0xe000_0000);
    expect(v.getUint32(0x14, true)).toBe(0xc001);
    expect(v.getUint32(0x18, true)).toBe(0x0000_000c);
    expect(v.getUint32(0x1c, true)).toBe(0x10);
    expect(v.getUint32(0x20, true)).toBe(0xe010_0000);
  });

  it('enables decode and bus mastering', async () => {
    const dev = new FakeDevice();
    const command = await new PciDeviceHandle(dev).enable();
    expect(command & 0x7).toBe(0x7);
    expect(dev.config[4]).toBe(0x07);
  });

  it('walks the capability list', async () => {
    const caps = await new PciDeviceHandle(new FakeDevice()).capabilities();
    expect(caps.map((c) => [c.offset, c.name])).toEqual([
      [0x40, 'MSI'],
      [0x50, 'MSI-X'],
    ]);
  });

  it('sets up MSI: address, data, vectors bound, then enable with the vector count', async () => {
    const dev = new FakeDevice();
    const n = await new PciDeviceHandle(dev).setupMsi(4);
    expect(n).toBe(4);
    const v = new DataView(dev.config.buffer);
    expect(v.getUint32(0x44, true)).toBe(MSI_ADDRESS_BASE);
    expect(v.getUint16(0x42, true) & 0x71).toBe((2 << 4) | 1);
    expect(dev.enabled).toEqual([{ index: VfioPciIrq.Msi, start: 0, count: 4 }]);
  });

  it('rounds an MSI request down to a power of two', async () => {
    expect(await new PciDeviceHandle(new FakeDevice()).setupMsi(3)).toBe(2);
  });

  it('programs the MSI-X table through its BAR and enables MSI-X without the function mask', async () => {
    const dev = new FakeDevice();
    const n = await new PciDeviceHandle(dev).setupMsix();
    expect(n).toBe(4);
    const t = new DataView(dev.bar4.buffer);
    for (let i = 0; i < 4; i++) {
      expect(t.getUint32(i * 16, true)).toBe(MSI_ADDRESS_BASE);
      expect(t.getUint32(i * 16 + 8, true)).toBe(i);
      expect(t.getUint32(i * 16 + 12, true)).toBe(0);
    }
    const cap = parseMsixCapability(dev.config, 0x50);
    expect(cap).toMatchObject({
      enabled: true,
      functionMasked: false,
      tableSize: 4,
      tableBar: 4,
      pbaOffset: 0x800,
    });
    expect(dev.enabled).toEqual([{ index: VfioPciIrq.Msix, start: 0, count: 4 }]);
  });

  it('sets up INTx and clears INTx disable', async () => {
    const dev = new FakeDevice();
    dev.config[5] = 0x04;
    await new PciDeviceHandle(dev).setupIntx();
    expect(dev.config[5]).toBe(0);
    expect(dev.enabled).toEqual([{ index: VfioPciIrq.Intx, start: 0, count: 1 }]);
  });

  it('refuses MSI on a device without the capability', async () => {
    const dev = new FakeDevice();
    dev.config[6] = 0; // no capability list
    await expect(new PciDeviceHandle(dev).setupMsi()).rejects.toMatchObject({ code: 'not-supported' });
  });
});
