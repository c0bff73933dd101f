import { MemoryRegion } from '@vfu/memory';
import { describe, expect, test } from 'vitest';
import { DeviceTree, DeviceTypeRegistry, type PciDevice, PciRootBus, regs } from '../src/index';
import { RecordingSink, recordingMmio, testDeviceClass } from './helpers';

/** Two root buses, each with one device whose BARs (memory and IO) are programmed identically. */
function twoBuses() {
  const logs: Record<string, string[]> = { s0: [], s1: [] };
  const registry = new DeviceTypeRegistry();
  for (const id of ['s0', 's1'] as const) {
    registry.register(
      testDeviceClass(`dev-${id}`, (d) => {
        d.registerBar(0, {
          kind: 'mem32',
          region: recordingMmio(`${id}-mem`, 0x1000n, logs[id] as string[]),
        });
        d.registerBar(1, { kind: 'io', region: recordingMmio(`${id}-io`, 0x100n, logs[id] as string[]) });
      }),
    );
  }
  const tree = new DeviceTree({ registry });
  const buses = ['s0', 's1'].map((id) => {
    const bus = new PciRootBus({ id, interruptSink: new RecordingSink() });
    tree.addRootBus(bus);
    return bus;
  });
  const devs = ['s0', 's1'].map(
    (id) => tree.deviceAdd({ driver: `dev-${id}`, id: `d-${id}`, bus: id }) as PciDevice,
  );
  for (const dev of devs) {
    dev.configWrite(0x10, 0xfe000000, 4);
    dev.configWrite(0x14, 0xc000, 4);
    dev.configWrite(
      regs.PCI_COMMAND,
      regs.PCI_COMMAND_MEMORY | regs.PCI_COMMAND_IO | regs.PCI_COMMAND_MASTER,
      2,
    );
  }
  return { tree, buses: buses as [PciRootBus, PciRootBus], devs: devs as [PciDevice, PciDevice], logs };
}

describe('root bus isolation', () => {
  test('BARs at the same addresses on two root buses never see each other’s accesses', () => {
    const { buses, logs } = twoBuses();
    buses[0].memoryAddressSpace.writeU32(0xfe000010n, 0x11);
    buses[0].ioAddressSpace.writeU8(0xc004n, 0x22);
    expect(logs.s0).toEqual(['s0-mem w 10=11/4', 's0-io w 4=22/1']);
    expect(logs.s1).toEqual([]);
    buses[1].memoryAddressSpace.readU32(0xfe000020n);
    buses[1].ioAddressSpace.readU8(0xc008n);
    expect(logs.s1).toEqual(['s1-mem r 20/4', 's1-io r 8/1']);
    expect(logs.s0).toHaveLength(2);
  });

  test('moving a BAR on one bus leaves the other bus untouched', () => {
    const { buses, devs } = twoBuses();
    devs[0].configWrite(0x10, 0xfd000000, 4);
    expect(buses[0].memoryAddressSpace.flatView.ranges.map((r) => r.start)).toEqual([0xfd000000n]);
    expect(buses[1].memoryAddressSpace.flatView.ranges.map((r) => r.start)).toEqual([0xfe000000n]);
  });

  test('DMA at the same IOVA from each device reaches only its own bus DMA space', async () => {
    const { buses, devs } = twoBuses();
    const rams = buses.map((bus, i) => {
      const ram = MemoryRegion.ram(`guest${i}`, 0x1000n);
      ram.ramBuffer?.fill(0x10 + i);
      bus.dmaRoot.addSubregion(0x80000000n, ram);
      return ram;
    });
    expect(await devs[0].dmaReadUint(0x80000000n, 1)).toBe(0x10);
    expect(await devs[1].dmaReadUint(0x80000000n, 1)).toBe(0x11);
    await devs[0].dmaWriteUint(0x80000100n, 0xaa, 1);
    expect(rams[0]?.ramBuffer?.[0x100]).toBe(0xaa);
    expect(rams[1]?.ramBuffer?.[0x100]).toBe(0x11);
    // Unmapping the window on one bus only affects that bus.
    buses[1].dmaRoot.removeSubregion(rams[1] as MemoryRegion);
    expect(await devs[1].dmaRead(0x80000000n, new Uint8Array(1))).toBe('decode-error');
    expect(await devs[0].dmaReadUint(0x80000000n, 1)).toBe(0x10);
  });

  test('interrupts of each device go to its own bus sink', () => {
    const { buses, devs } = twoBuses();
    devs[1].intxAssert();
    expect((buses[0].interruptSink as RecordingSink).intxLevels).toEqual([]);
    expect((buses[1].interruptSink as RecordingSink).intxLevels).toEqual([true]);
  });
});
