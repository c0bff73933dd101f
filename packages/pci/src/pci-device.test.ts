import { MemoryRegion } from '@vfu/memory';
import { describe, expect, test } from 'vitest';
import { recordingMmio, singleDevice, type TestPciDevice } from '../test/helpers';
import { PciDevice } from './pci-device';
import * as R from './regs';

function mmioDevice(log: string[]) {
  return singleDevice((dev: TestPciDevice) => {
    dev.registerBar(0, { kind: 'mem32', region: recordingMmio('bar0', 0x1000n, log) });
    dev.registerBar(1, { kind: 'io', region: recordingMmio('io1', 0x20n, log) });
    dev.registerBar(2, { kind: 'mem64', prefetchable: true, region: MemoryRegion.ram('ram2', 0x4000n) });
    dev.registerRom(MemoryRegion.rom('rom', 0x800n, { backing: new Uint8Array(0x800).fill(0x55) }));
  });
}

describe('BAR mapping', () => {
  test('a memory BAR appears, moves and disappears as COMMAND and the BAR are written', () => {
    const log: string[] = [];
    const { dev, bus } = mmioDevice(log);
    const mem = bus.memoryAddressSpace;
    dev.configWrite(0x10, 0xfebc0000, 4);
    expect(dev.bar(0)?.mappedAddress).toBeUndefined();
    expect(mem.readU32(0xfebc0004n)).toBe(0);
    dev.configWrite(R.PCI_COMMAND, R.PCI_COMMAND_MEMORY, 2);
    expect(dev.bar(0)?.mappedAddress).toBe(0xfebc0000n);
    expect(mem.readU32(0xfebc0004n)).toBe(0xa5a5a504);
    expect(log).toContain('bar0 r 4/4');
    dev.configWrite(0x10, 0xfebd0000, 4);
    expect(mem.readU32(0xfebc0004n)).toBe(0);
    expect(mem.readU32(0xfebd0008n)).toBe(0xa5a5a508);
    dev.configWrite(R.PCI_COMMAND, 0, 2);
    expect(dev.bar(0)?.mappedAddress).toBeUndefined();
    expect(mem.flatView.ranges).toHaveLength(0);
  });

  test('an IO BAR maps into the bus IO space only while COMMAND.IO is set', () => {
    const log: string[] = [];
    const { dev, bus } = mmioDevice(log);
    dev.configWrite(0x14, 0xc000, 4);
    dev.configWrite(R.PCI_COMMAND, R.PCI_COMMAND_MEMORY, 2);
    expect(dev.bar(1)?.mappedAddress).toBeUndefined();
    dev.configWrite(R.PCI_COMMAND, R.PCI_COMMAND_IO, 2);
    expect(dev.bar(1)?.mappedAddress).toBe(0xc000n);
    bus.ioAddressSpace.writeU8(0xc003n, 0x7f);
    expect(log).toContain('io1 w 3=7f/1');
    expect(bus.memoryAddressSpace.flatView.ranges).toHaveLength(0);
    dev.configWrite(0x14, 0xc020, 4);
    expect(bus.ioAddressSpace.flatView.ranges.map((r) => r.start)).toEqual([0xc020n]);
  });

  test('QEMU pci_bar_address rules: address 0, sizing value, 32-bit wrap, 64-bit above 4 GiB', () => {
    const { dev } = mmioDevice([]);
    dev.configWrite(R.PCI_COMMAND, R.PCI_COMMAND_MEMORY | R.PCI_COMMAND_IO, 2);
    expect(dev.barAddress(0)).toBeUndefined(); // address 0
    dev.configWrite(0x10, 0xffffffff, 4); // sizing probe while decoding
    expect(dev.bar(0)?.mappedAddress).toBeUndefined();
    dev.configWrite(0x10, 0xfffff000, 4); // last byte at 0xffffffff
    expect(dev.bar(0)?.mappedAddress).toBeUndefined();
    dev.configWrite(0x10, 0xffffe000, 4);
    expect(dev.bar(0)?.mappedAddress).toBe(0xffffe000n);
    dev.configWrite(0x18, 0x0000000c, 4);
    dev.configWrite(0x1c, 0x00000001, 4);
    expect(dev.bar(2)?.mappedAddress).toBe(0x1_0000_0000n);
    dev.configWrite(0x18, 0xffffffff, 4);
    dev.configWrite(0x1c, 0xffffffff, 4);
    expect(dev.bar(2)?.mappedAddress).toBeUndefined();
    dev.configWrite(0x14, 0xffffffff, 4); // IO sizing probe
    expect(dev.bar(1)?.mappedAddress).toBeUndefined();
  });

  test('the ROM maps only with COMMAND.MEMORY and its enable bit', () => {
    const { dev, bus } = mmioDevice([]);
    dev.configWrite(R.PCI_COMMAND, R.PCI_COMMAND_MEMORY, 2);
    dev.configWrite(R.PCI_ROM_ADDRESS, 0xfeb00000, 4);
    expect(dev.bar(R.PCI_ROM_SLOT)?.mappedAddress).toBeUndefined();
    dev.configWrite(R.PCI_ROM_ADDRESS, 0xfeb00001, 4);
    expect(dev.bar(R.PCI_ROM_SLOT)?.mappedAddress).toBe(0xfeb00000n);
    expect(bus.memoryAddressSpace.readU16(0xfeb00000n)).toBe(0x5555);
  });

  test('each config write renders the bus memory space once', () => {
    const { dev, bus } = mmioDevice([]);
    dev.configWrite(0x10, 0xfe000000, 4);
    dev.configWrite(0x18, 0xfd000000, 4);
    const before = bus.memoryAddressSpace.renderCount;
    dev.configWrite(R.PCI_COMMAND, R.PCI_COMMAND_MEMORY, 2); // maps two BARs
    expect(bus.memoryAddressSpace.renderCount - before).toBe(1);
    dev.configWrite(0x10, 0xfe100000, 4); // move = remove + add
    expect(bus.memoryAddressSpace.renderCount - before).toBe(2);
  });

  test('BAR region access by region-relative offset, independent of mapping', () => {
    const log: string[] = [];
    const { dev } = mmioDevice(log);
    const buf = new Uint8Array(4);
    expect(dev.bar(0)?.read(0x10n, buf)).toBe('ok');
    expect(new DataView(buf.buffer).getUint32(0, true)).toBe(0xa5a5a510);
    expect(() => dev.bar(0)?.read(0xffen, buf)).toThrow(/out of bounds/);
    expect(dev.regions().map((r) => [r.index, r.kind, r.size])).toEqual([
      [0, 'mem32', 0x1000n],
      [1, 'io', 0x20n],
      [2, 'mem64', 0x4000n],
      [6, 'rom', 0x800n],
    ]);
    expect(dev.bar(2)?.mmapAreas()).toMatchObject([{ offset: 0n, size: 0x4000n }]);
    expect(dev.bar(0)?.mmapAreas()).toEqual([]);
  });

  test('unrealize unmaps every BAR; reset restores BAR type bits and unmaps', () => {
    const { dev, bus, tree } = mmioDevice([]);
    dev.configWrite(0x10, 0xfe000000, 4);
    dev.configWrite(R.PCI_COMMAND, R.PCI_COMMAND_MEMORY | R.PCI_COMMAND_MASTER, 2);
    expect(bus.memoryAddressSpace.flatView.ranges).toHaveLength(1);
    dev.reset('warm');
    expect(dev.configRead(R.PCI_COMMAND, 2)).toBe(0);
    expect(dev.configRead(0x10, 4)).toBe(0);
    expect(dev.configRead(0x18, 4)).toBe(0x0c);
    expect(bus.memoryAddressSpace.flatView.ranges).toHaveLength(0);
    dev.configWrite(0x10, 0xfe000000, 4);
    dev.configWrite(R.PCI_COMMAND, R.PCI_COMMAND_MEMORY, 2);
    tree.removeRootBus(bus);
    expect(dev.realized).toBe(false);
    expect(bus.memorySpace).toBeDefined();
  });
});

describe('power management', () => {
  test('BARs are unmapped outside D0; unsupported states are refused', () => {
    const log: string[] = [];
    const { dev } = singleDevice((d) => {
      d.registerBar(0, { kind: 'mem32', region: recordingMmio('bar0', 0x1000n, log) });
      d.pmInit({ d1: false });
    });
    const pm = dev.pm?.offset as number;
    dev.configWrite(0x10, 0xfe000000, 4);
    dev.configWrite(R.PCI_COMMAND, R.PCI_COMMAND_MEMORY, 2);
    expect(dev.bar(0)?.mappedAddress).toBe(0xfe000000n);
    dev.configWrite(pm + R.PCI_PM_CTRL, 3, 2);
    expect(dev.pm?.state).toBe(3);
    expect(dev.bar(0)?.mappedAddress).toBeUndefined();
    dev.configWrite(pm + R.PCI_PM_CTRL, 1, 2); // D3 -> D1: not advertised
    expect(dev.pm?.state).toBe(3);
    dev.configWrite(pm + R.PCI_PM_CTRL, 0, 2);
    expect(dev.bar(0)?.mappedAddress).toBe(0xfe000000n);
    expect(dev.configRead(pm + R.PCI_PM_CTRL, 2)).toBe(R.PCI_PM_CTRL_NO_SOFT_RESET);
  });
});

describe('PCI Express', () => {
  test('writing Initiate FLR resets the function and the bit reads 0', () => {
    const { dev } = singleDevice((d) => d.pcieInit({ flr: true }), { express: true });
    const cap = dev.pcie?.offset as number;
    expect(dev.configSize).toBe(4096);
    expect(dev.configRead(cap + R.PCI_EXP_DEVCAP, 4) & R.PCI_EXP_DEVCAP_FLR).not.toBe(0);
    expect(dev.configRead(0x100, 4)).toBe(0);
    dev.configWrite(R.PCI_COMMAND, R.PCI_COMMAND_MASTER, 2);
    dev.configWrite(cap + R.PCI_EXP_DEVCTL, R.PCI_EXP_DEVCTL_BCR_FLR | 0x1, 2);
    expect(dev.configRead(cap + R.PCI_EXP_DEVCTL, 2)).toBe(0);
    expect(dev.configRead(R.PCI_COMMAND, 2)).toBe(0);
    expect(dev.log).toContain('reset:warm');
  });

  test('a PCIe capability needs a 4 KiB config space', () => {
    expect(() => singleDevice((d) => d.pcieInit())).toThrow(/4 KiB/);
  });
});

describe('bus mastering and DMA', () => {
  function dmaSetup() {
    const env = singleDevice();
    const ram = MemoryRegion.ram('guest', 0x10000n);
    env.bus.dmaRoot.addSubregion(0x100000n, ram);
    ram.ramBuffer?.set([1, 2, 3, 4, 5, 6, 7, 8], 0x10);
    return { ...env, ram };
  }

  test('DMA is blocked while bus master is off: reads give zeros, writes are dropped', async () => {
    const { dev, ram } = dmaSetup();
    const buf = new Uint8Array(4).fill(0xee);
    expect(await dev.dmaRead(0x100010n, buf)).toBe('decode-error');
    expect([...buf]).toEqual([0, 0, 0, 0]);
    expect(await dev.dmaWrite(0x100020n, new Uint8Array([9, 9]))).toBe('decode-error');
    expect(ram.ramBuffer?.[0x20]).toBe(0);
    expect(dev.dmaReadSync(0x100010n, buf)).toBe('decode-error');
  });

  test('with bus master on, DMA reaches the bus DMA space (sync fast path and typed helpers)', async () => {
    const { dev, ram } = dmaSetup();
    dev.configWrite(R.PCI_COMMAND, R.PCI_COMMAND_MASTER, 2);
    const buf = new Uint8Array(4);
    expect(await dev.dmaRead(0x100010n, buf)).toBe('ok');
    expect([...buf]).toEqual([1, 2, 3, 4]);
    expect(await dev.dmaReadUint(0x100010n, 4)).toBe(0x04030201);
    expect(await dev.dmaReadU64(0x100010n)).toBe(0x0807060504030201n);
    expect(await dev.dmaWriteUint(0x100020n, 0xcafe, 2)).toBe('ok');
    expect(await dev.dmaWriteU64(0x100028n, 0x1122334455667788n)).toBe('ok');
    expect([...(ram.ramBuffer?.subarray(0x20, 0x22) ?? [])]).toEqual([0xfe, 0xca]);
    expect(ram.ramBuffer?.[0x28]).toBe(0x88);
    expect(dev.dmaWriteSync(0x100030n, new Uint8Array([7]))).toBe('ok');
    expect(ram.ramBuffer?.[0x30]).toBe(7);
    dev.configWrite(R.PCI_COMMAND, 0, 2);
    expect(await dev.dmaReadUint(0x100010n, 4)).toBe(0);
  });

  test('DMA to an asynchronous region goes through readAsync/writeAsync', async () => {
    const { dev, bus } = singleDevice();
    const seen: string[] = [];
    bus.dmaRoot.addSubregion(
      0x2000n,
      MemoryRegion.asyncIo('remote', 0x1000n, {
        read: async (off, dest) => {
          seen.push(`r ${off}`);
          dest.fill(0x42);
        },
        write: async (off, data) => {
          seen.push(`w ${off} ${data.length}`);
        },
      }),
    );
    dev.configWrite(R.PCI_COMMAND, R.PCI_COMMAND_MASTER, 2);
    const buf = new Uint8Array(3);
    expect(await dev.dmaRead(0x2010n, buf)).toBe('ok');
    expect([...buf]).toEqual([0x42, 0x42, 0x42]);
    expect(await dev.dmaWrite(0x2020n, new Uint8Array(5))).toBe('ok');
    expect(seen).toEqual(['r 16', 'w 32 5']);
    expect(dev.dmaReadSync(0x2010n, buf)).toBe('access-error');
  });

  test('an IOMMU attached to the bus translates device DMA', async () => {
    const { dev, bus } = singleDevice();
    const ram = MemoryRegion.ram('guest', 0x1000n);
    ram.ramBuffer?.set([0xab], 0x10);
    bus.dmaRoot.addSubregion(0x50000n, ram);
    dev.configWrite(R.PCI_COMMAND, R.PCI_COMMAND_MASTER, 2);
    expect(await dev.dmaReadUint(0x10n, 1)).toBe(0);
    const iommu = MemoryRegion.iommu('viommu', 1n << 64n, {
      translate: (address) => ({
        target: bus.dmaAddressSpace,
        translatedAddress: address + 0x50000n,
        addressMask: 0xfffn,
        perm: { read: true, write: false },
      }),
    });
    bus.setIommu(iommu);
    expect(bus.iommu).toBe(iommu);
    expect(await dev.dmaReadUint(0x10n, 1)).toBe(0xab);
    expect(await dev.dmaWriteUint(0x10n, 1, 1)).toBe('access-error');
    bus.setIommu(undefined);
    expect(await dev.dmaReadUint(0x50010n, 1)).toBe(0xab);
  });
});

describe('INTx', () => {
  test('assert/deassert reach the sink, Status.INTERRUPT follows, INTx disable gates the bus level', () => {
    const { dev, sink } = singleDevice();
    dev.intxAssert();
    expect(sink.intxLevels).toEqual([true]);
    expect(dev.configRead(R.PCI_STATUS, 2) & R.PCI_STATUS_INTERRUPT).toBe(R.PCI_STATUS_INTERRUPT);
    dev.configWrite(R.PCI_COMMAND, R.PCI_COMMAND_INTX_DISABLE, 2);
    expect(sink.intxLevels).toEqual([true, false]);
    expect(dev.configRead(R.PCI_STATUS, 2) & R.PCI_STATUS_INTERRUPT).toBe(R.PCI_STATUS_INTERRUPT);
    expect(sink.events).toContainEqual({ kind: 'intx-disable', disabled: true });
    dev.intxAssert(); // no change
    dev.configWrite(R.PCI_COMMAND, 0, 2);
    expect(sink.intxLevels).toEqual([true, false, true]);
    dev.intxDeassert();
    expect(sink.intxLevels).toEqual([true, false, true, false]);
    expect(dev.configRead(R.PCI_STATUS, 2) & R.PCI_STATUS_INTERRUPT).toBe(0);
  });

  test('a device without an interrupt pin cannot raise INTx', () => {
    const { dev } = singleDevice(() => {}, { interruptPin: 0 });
    expect(dev.irqInfo()).toEqual({ intxPin: 0, intxCount: 0, msiVectors: 0, msixVectors: 0 });
    expect(() => dev.intxAssert()).toThrow(/no interrupt pin/);
  });

  test('reset and unrealize lower an asserted line', () => {
    const { dev, sink, tree } = singleDevice();
    dev.intxAssert();
    dev.reset('cold');
    expect(sink.intxLevels).toEqual([true, false]);
    dev.intxAssert();
    tree.removeRootBus(dev.bus);
    expect(sink.intxLevels).toEqual([true, false, true, false]);
  });
});

describe('realize failure', () => {
  test('a device failing in realizePci after registering BARs leaves no trace on the bus', () => {
    const { tree, bus } = singleDevice();
    tree.registry.register({
      ...tree.registry.get('test-dev'),
      name: 'half-dev',
      create: (init) =>
        new (class extends PciDevice {
          protected override realizePci(): void {
            this.registerBar(0, { kind: 'mem32', region: MemoryRegion.ram('r', 0x1000n) });
            this.msixInitExclusiveBar(4, 1);
            throw new Error('backend missing');
          }
        })(init, { vendorId: 1, deviceId: 2, classCode: 0 }),
    });
    expect(() => tree.deviceAdd({ driver: 'half-dev', id: 'h', addr: '05.0' })).toThrow('backend missing');
    expect(bus.deviceAt(0x28)).toBeUndefined();
    expect(tree.findDevice('h')).toBeUndefined();
    expect(bus.memoryAddressSpace.flatView.ranges).toHaveLength(0);
    expect(() => tree.deviceAdd({ driver: 'test-dev', id: 'ok', addr: '05.0' })).not.toThrow();
  });
});
