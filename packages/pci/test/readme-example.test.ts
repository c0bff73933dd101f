// The README example, verbatim: if this file changes, update README.md (and vice versa).
import { MemoryRegion } from '@vfu/memory';
import {
  DeviceTree,
  DeviceTypeRegistry,
  definePciDeviceClass,
  type InterruptSink,
  PciDevice,
  type PciDeviceInit,
  PciRootBus,
  prop,
  regs,
} from '@vfu/pci';
import { expect, test } from 'vitest';

// --- README example start ---
/** Registers of the "doorbell" device's BAR 0 (named, not bare numbers). */
const REG = { ID: 0x00, SCRATCH: 0x04, DOORBELL: 0x08 } as const;

const doorbellProps = { 'device-revision': prop.uint8({ default: 1, description: 'ID register low byte' }) };

/** A tiny PCI device: BAR 0 with three registers; writing DOORBELL fires MSI vector 0 (INTx without MSI). */
class Doorbell extends PciDevice {
  #scratch = 0;
  readonly #bar = MemoryRegion.io('doorbell-mmio', 0x1000n, {
    valid: { minAccessSize: 4, maxAccessSize: 4 },
    read: (offset) => {
      if (offset === REG.ID) return 0x0100ed00 | Number(this.getProperty('device-revision'));
      if (offset === REG.SCRATCH) return this.#scratch;
      return 0xffffffff;
    },
    write: (offset, value) => {
      if (offset === REG.SCRATCH) this.#scratch = value;
      if (offset === REG.DOORBELL) this.#ring();
    },
  });

  constructor(init: PciDeviceInit<typeof doorbellProps>) {
    super(init, { vendorId: 0x1234, deviceId: 0xd00b, classCode: 0xff0000, interruptPin: 1 });
  }

  protected override realizePci(): void {
    this.registerBar(0, { kind: 'mem32', region: this.#bar });
    this.msiInit({ vectors: 1, address64: true });
  }

  protected override resetPci(): void {
    this.#scratch = 0;
  }

  #ring(): void {
    if (this.msi?.enabled) this.msiNotify(0);
    else this.setIrq(true);
  }
}

const DoorbellClass = definePciDeviceClass({
  name: 'doorbell',
  description: 'Doorbell example device',
  properties: doorbellProps,
  create: (init) => new Doorbell(init),
});
// --- README example end ---

test('README example: a device with a BAR and MSI, driven through config space and its BAR', () => {
  const registry = new DeviceTypeRegistry();
  registry.register(DoorbellClass);
  const tree = new DeviceTree({ registry });

  const msis: Array<[number, bigint, number]> = [];
  const sink: InterruptSink = {
    intx: () => {},
    msi: (_dev, vector, { address, data }) => msis.push([vector, address, data]),
    msix: () => {},
  };
  const bus = new PciRootBus({ id: 's0', interruptSink: sink });
  tree.addRootBus(bus);
  const dev = tree.deviceAddFromString('doorbell,id=db0,addr=03.0,device-revision=7') as PciDevice;

  // Program BAR 0 and enable memory decoding and bus mastering, as a guest would.
  dev.configWrite(0x10, 0xfe000000, 4);
  dev.configWrite(regs.PCI_COMMAND, regs.PCI_COMMAND_MEMORY | regs.PCI_COMMAND_MASTER, 2);
  expect(bus.memoryAddressSpace.readU32(0xfe000000n)).toBe(0x0100ed07);

  // Enable MSI through its capability.
  const msi = dev.msi?.offset ?? 0;
  dev.configWrite(msi + regs.PCI_MSI_ADDRESS_LO, 0xfee00000, 4);
  dev.configWrite(msi + regs.PCI_MSI_DATA_64, 0x0041, 2);
  dev.configWrite(msi + regs.PCI_MSI_FLAGS, regs.PCI_MSI_FLAGS_ENABLE, 2);

  // Ring the doorbell through the BAR, region-relative (as vfio-user REGION_WRITE does).
  dev.bar(0)?.write(BigInt(REG.DOORBELL), new Uint8Array([1, 0, 0, 0]));
  expect(msis).toEqual([[0, 0xfee00000n, 0x41]]);
  expect(dev.irqInfo()).toEqual({ intxPin: 1, intxCount: 1, msiVectors: 1, msixVectors: 0 });
});
