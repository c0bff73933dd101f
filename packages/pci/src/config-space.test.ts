import { fc, test as propTest } from '@fast-check/vitest';
import { MemoryRegion } from '@vfu/memory';
import { describe, expect, test } from 'vitest';
import { singleDevice, type TestPciDevice } from '../test/helpers';
import { ConfigSpace } from './config-space';
import { isPciError } from './errors';
import * as R from './regs';

/** A device with every BAR kind, a ROM and every capability. */
function fullDevice() {
  return singleDevice(
    (dev: TestPciDevice) => {
      dev.registerBar(0, { kind: 'io', region: MemoryRegion.ram('io', 32n) });
      dev.registerBar(1, { kind: 'mem32', region: MemoryRegion.ram('m32', 0x1000n) });
      dev.registerBar(2, { kind: 'mem32', prefetchable: true, region: MemoryRegion.ram('m32p', 0x100000n) });
      dev.registerBar(3, { kind: 'mem64', prefetchable: true, region: MemoryRegion.ram('m64', 0x4000n) });
      dev.registerRom(MemoryRegion.rom('rom', 0x10000n));
      dev.pmInit();
      dev.msiInit({ vectors: 4, perVectorMask: true });
      dev.pcieInit();
      dev.msixInitExclusiveBar(8, 5);
      dev.pcieAddDeviceSerialNumber(0x0123456789abcdefn);
    },
    { express: true },
  );
}

function sizeProbe(dev: TestPciDevice, offset: number): number {
  const saved = dev.configRead(offset, 4);
  dev.configWrite(offset, 0xffffffff, 4);
  const readback = dev.configRead(offset, 4);
  dev.configWrite(offset, saved, 4);
  return readback;
}

describe('ConfigSpace', () => {
  test('masked write: read-only bits stick, writable bits change, W1C bits clear on 1', () => {
    const cs = new ConfigSpace(256);
    cs.setByte(0x40, 0b1010_1010);
    cs.wmask[0x40] = 0x0f;
    cs.w1cmask[0x40] = 0xa0;
    cs.write(0x40, 0b0010_0101, 1);
    // high nibble: bit 5 cleared (W1C), bit 7 kept (written 0), low nibble = written value
    expect(cs.getByte(0x40)).toBe(0b1000_0101);
  });

  test('accesses outside the space are typed errors', () => {
    const cs = new ConfigSpace(256);
    expect(() => cs.read(0xfe, 4)).toThrow(/outside the 256-byte/);
    try {
      cs.write(0x100, 0, 1);
    } catch (e) {
      expect(isPciError(e) && e.code).toBe('invalid-config-access');
    }
    expect(() => new ConfigSpace(512)).toThrow();
  });

  test('capabilities are linked at the head and overlaps are refused', () => {
    const cs = new ConfigSpace(256);
    const a = cs.addCapability(0x09, 0, 8);
    const b = cs.addCapability(0x05, 0, 10);
    expect(a).toBe(0x40);
    expect(b).toBe(0x48);
    expect(cs.getByte(R.PCI_CAPABILITY_LIST)).toBe(0x48);
    expect(cs.capabilities()).toEqual([
      { id: 0x05, offset: 0x48 },
      { id: 0x09, offset: 0x40 },
    ]);
    expect(cs.getWord(R.PCI_STATUS) & R.PCI_STATUS_CAP_LIST).toBe(R.PCI_STATUS_CAP_LIST);
    expect(() => cs.addCapability(0x01, 0x44, 8)).toThrow(/overlaps/);
    expect(() => cs.addCapability(0x01, 0x42, 8)).toThrow(/dword-aligned/);
    expect(() => cs.addCapability(0x01, 0, 200)).toThrow(/no 200 free bytes/);
  });

  test('a looping capability list does not hang the walk', () => {
    const cs = new ConfigSpace(256);
    cs.addCapability(0x09, 0x40, 4);
    cs.setByte(0x41, 0x40);
    expect(cs.capabilities()).toEqual([{ id: 0x09, offset: 0x40 }]);
  });
});

describe('PCI config space semantics', () => {
  test('header IDs come from the class and are read-only', () => {
    const { dev } = fullDevice();
    expect(dev.configRead(R.PCI_VENDOR_ID, 4)).toBe(0x56781234);
    dev.configWrite(R.PCI_VENDOR_ID, 0xffffffff, 4);
    dev.configWrite(R.PCI_CLASS_REVISION, 0, 4);
    expect(dev.configRead(R.PCI_VENDOR_ID, 4)).toBe(0x56781234);
    expect(dev.configRead(R.PCI_CLASS_REVISION, 4)).toBe(0x00ff0001);
    expect(dev.configRead(R.PCI_INTERRUPT_PIN, 1)).toBe(1);
  });

  test('x-pci-* properties override the class ids', () => {
    const { tree } = singleDevice();
    const dev = tree.deviceAdd({
      driver: 'test-dev',
      id: 'o',
      'x-pci-vendor-id': '0x1af4',
      'x-pci-sub-device-id': 0x1100,
    }) as TestPciDevice;
    expect(dev.configRead(R.PCI_VENDOR_ID, 2)).toBe(0x1af4);
    expect(dev.configRead(R.PCI_DEVICE_ID, 2)).toBe(0x5678);
    expect(dev.configRead(R.PCI_SUBSYSTEM_ID, 2)).toBe(0x1100);
    expect(() => tree.deviceAdd({ driver: 'test-dev', id: 'p', 'x-pci-vendor-id': 0x10000 })).toThrow(
      /16-bit/,
    );
  });

  test('command register: only IO, MEM, MASTER, SERR and INTX_DISABLE are writable', () => {
    const { dev } = fullDevice();
    dev.configWrite(R.PCI_COMMAND, 0xffff, 2);
    expect(dev.configRead(R.PCI_COMMAND, 2)).toBe(0x0507);
  });

  test('status: W1C bits clear only where 1 is written; the rest is read-only', () => {
    const { dev } = fullDevice();
    dev.config.setWord(R.PCI_STATUS, dev.config.getWord(R.PCI_STATUS) | 0xf900);
    dev.configWrite(R.PCI_STATUS, 0x0000, 2);
    expect(dev.configRead(R.PCI_STATUS, 2) & 0xf900).toBe(0xf900);
    dev.configWrite(R.PCI_STATUS, 0x2100, 2);
    expect(dev.configRead(R.PCI_STATUS, 2) & 0xf900).toBe(0xd800);
    dev.configWrite(R.PCI_STATUS, 0xffff, 2);
    expect(dev.configRead(R.PCI_STATUS, 2)).toBe(R.PCI_STATUS_CAP_LIST);
  });

  test('BAR sizing: all-ones write reads back the size mask with the type bits, per kind', () => {
    const { dev } = fullDevice();
    expect(sizeProbe(dev, 0x10)).toBe(0xffffffe1); // IO, 32 bytes
    expect(sizeProbe(dev, 0x14)).toBe(0xfffff000); // mem32, 4 KiB
    expect(sizeProbe(dev, 0x18)).toBe(0xfff00008); // mem32 prefetchable, 1 MiB
    expect(sizeProbe(dev, 0x1c)).toBe(0xffffc00c); // mem64 prefetchable, 16 KiB (low)
    expect(sizeProbe(dev, 0x20)).toBe(0xffffffff); // mem64 upper dword
    expect(sizeProbe(dev, 0x24)).toBe(0xfffff000); // MSI-X exclusive BAR, 4 KiB
    // Size computed the way firmware does.
    expect((~(sizeProbe(dev, 0x10) & R.PCI_BASE_ADDRESS_IO_MASK) + 1) >>> 0).toBe(32);
    expect((~(sizeProbe(dev, 0x18) & R.PCI_BASE_ADDRESS_MEM_MASK) + 1) >>> 0).toBe(0x100000);
    // Original values restored; type bits intact.
    expect(dev.configRead(0x1c, 4)).toBe(0x0c);
  });

  test('64-bit BAR of 4 GiB sizes over both dwords; an unimplemented BAR reads 0', () => {
    const { dev } = singleDevice((d) =>
      d.registerBar(0, { kind: 'mem64', region: MemoryRegion.container('big', 0x1_0000_0000n) }),
    );
    expect(sizeProbe(dev, 0x10)).toBe(0x00000004);
    expect(sizeProbe(dev, 0x14)).toBe(0xffffffff);
    expect(sizeProbe(dev, 0x18)).toBe(0);
  });

  test('expansion ROM BAR sizes with its enable bit; absent ROM reads 0', () => {
    const { dev } = fullDevice();
    expect(sizeProbe(dev, R.PCI_ROM_ADDRESS)).toBe(0xffff0001);
    dev.configWrite(R.PCI_ROM_ADDRESS, 0xfffffffe, 4);
    expect(dev.configRead(R.PCI_ROM_ADDRESS, 4)).toBe(0xffff0000);
    const plain = singleDevice();
    expect(sizeProbe(plain.dev, R.PCI_ROM_ADDRESS)).toBe(0);
  });

  test('rombar=0 hides the ROM', () => {
    const { tree } = singleDevice((d) => d.registerRom(MemoryRegion.rom('rom', 0x800n)));
    const dev = tree.deviceAdd({ driver: 'test-dev', id: 'nr', rombar: 0 }) as TestPciDevice;
    expect(dev.bar(R.PCI_ROM_SLOT)).toBeUndefined();
    expect(sizeProbe(dev, R.PCI_ROM_ADDRESS)).toBe(0);
  });

  test('bad BAR registrations are typed errors', () => {
    const reg = (fn: (d: TestPciDevice) => void) => () => singleDevice(fn);
    expect(reg((d) => d.registerBar(0, { kind: 'mem32', region: MemoryRegion.ram('x', 0x1800n) }))).toThrow(
      /power of two/,
    );
    expect(reg((d) => d.registerBar(0, { kind: 'mem32', region: MemoryRegion.ram('x', 8n) }))).toThrow(
      /power of two/,
    );
    expect(reg((d) => d.registerBar(0, { kind: 'io', region: MemoryRegion.ram('x', 2n) }))).toThrow(
      /power of two/,
    );
    expect(reg((d) => d.registerBar(5, { kind: 'mem64', region: MemoryRegion.ram('x', 16n) }))).toThrow(
      /BAR 5/,
    );
    expect(reg((d) => d.registerBar(6, { kind: 'mem32', region: MemoryRegion.ram('x', 16n) }))).toThrow(
      /0-5/,
    );
    expect(
      reg((d) => {
        d.registerBar(0, { kind: 'mem64', region: MemoryRegion.ram('x', 16n) });
        d.registerBar(1, { kind: 'mem32', region: MemoryRegion.ram('y', 16n) });
      }),
    ).toThrow(/already registered/);
    expect(
      reg((d) => d.registerBar(0, { kind: 'io', prefetchable: true, region: MemoryRegion.ram('x', 16n) })),
    ).toThrow(/prefetchable/);
    expect(reg((d) => d.registerRom(MemoryRegion.rom('r', 0x400n)))).toThrow(/power of two/);
  });

  test('the capability chain walks PCIe, MSI, PM (head first) and the extended list', () => {
    const { dev } = fullDevice();
    expect(dev.config.capabilities().map((c) => c.id)).toEqual([
      R.PCI_CAP_ID_MSIX,
      R.PCI_CAP_ID_EXP,
      R.PCI_CAP_ID_MSI,
      R.PCI_CAP_ID_PM,
    ]);
    // Walk it the way a guest does, through config reads only.
    const ids: number[] = [];
    let ptr = dev.configRead(R.PCI_CAPABILITY_LIST, 1);
    while (ptr !== 0) {
      ids.push(dev.configRead(ptr, 1));
      ptr = dev.configRead(ptr + 1, 1);
    }
    expect(ids).toEqual([0x11, 0x10, 0x05, 0x01]);
    expect(dev.config.extendedCapabilities()).toEqual([
      { id: R.PCI_EXT_CAP_ID_DSN, offset: 0x100, version: 1 },
    ]);
    expect(dev.configRead(0x104, 4)).toBe(0x89abcdef);
    // Capability headers are read-only.
    const pm = dev.config.findCapability(R.PCI_CAP_ID_PM) as number;
    dev.configWrite(pm, 0xffff, 2);
    expect(dev.configRead(pm, 1)).toBe(R.PCI_CAP_ID_PM);
  });

  test('conventional devices have 256 bytes; config byte helpers split unaligned ranges', () => {
    const { dev } = singleDevice();
    expect(dev.configSize).toBe(256);
    expect(() => dev.configRead(0x100, 4)).toThrow(/outside/);
    const buf = new Uint8Array(7);
    dev.configReadBytes(1, buf);
    expect([...buf]).toEqual([0x12, 0x78, 0x56, 0, 0, 0, 0]);
    dev.configWriteBytes(0x3b, new Uint8Array([0xaa, 0x0b, 0x09]));
    expect(dev.configRead(R.PCI_INTERRUPT_LINE, 1)).toBe(0x0b);
    expect(dev.configRead(R.PCI_INTERRUPT_PIN, 1)).toBe(1);
    expect(() => dev.configRead(0, 3 as never)).toThrow(/size/);
  });

  propTest.prop(
    [
      fc.array(
        fc.record({
          offset: fc.oneof(fc.integer({ min: 0, max: 0xff }), fc.integer({ min: 0, max: 4095 })),
          size: fc.constantFrom(1 as const, 2 as const, 4 as const),
          value: fc.integer({ min: 0, max: 0xffffffff }),
        }),
        { maxLength: 60 },
      ),
    ],
    { numRuns: 60 },
  )('random config writes never change read-only bits or set W1C bits', (writes) => {
    const { dev } = fullDevice();
    const cfg = dev.config;
    for (const w of writes) {
      const offset = Math.min(w.offset, cfg.size - w.size);
      const before = cfg.config.slice();
      dev.configWrite(offset, w.value, w.size);
      const violations: string[] = [];
      for (let i = 0; i < cfg.size; i++) {
        const b = before[i] as number;
        const a = cfg.config[i] as number;
        if (a === b) continue;
        const ro = ~((cfg.wmask[i] as number) | (cfg.w1cmask[i] as number)) & 0xff;
        const w1c = cfg.w1cmask[i] as number;
        if ((b ^ a) & ro || ~b & a & w1c)
          violations.push(`${i.toString(16)}: ${b.toString(16)} -> ${a.toString(16)}`);
      }
      expect(violations, `after write ${offset.toString(16)}=${w.value.toString(16)}/${w.size}`).toEqual([]);
    }
  });
});
