// Config-space and BAR MMIO reads through the device model, compared with a plain DataView read.
import { MemoryRegion } from '@vfu/memory';
import { runBenchSuite } from '@vfu/test-utils';
import {
  DeviceTree,
  DeviceTypeRegistry,
  definePciDeviceClass,
  PciDevice,
  PciRootBus,
  regs,
} from '../src/index';

class BenchDevice extends PciDevice {
  readonly registers = new Uint32Array(1024);
  protected override realizePci(): void {
    const mmio = MemoryRegion.io('bench-mmio', 0x1000n, {
      valid: { minAccessSize: 4, maxAccessSize: 4 },
      read: (offset) => this.registers[offset >> 2] ?? 0,
      write: (offset, value) => {
        this.registers[offset >> 2] = value;
      },
    });
    this.registerBar(0, { kind: 'mem32', region: mmio });
    this.msiInit({ vectors: 4 });
  }
}

const registry = new DeviceTypeRegistry();
registry.register(
  definePciDeviceClass({
    name: 'bench-dev',
    description: 'benchmark device',
    create: (init) => new BenchDevice(init, { vendorId: 0x1234, deviceId: 0x1, classCode: 0xff0000 }),
  }),
);
const tree = new DeviceTree({ registry });
const bus = new PciRootBus({ id: 's0' });
tree.addRootBus(bus);
const dev = tree.deviceAdd({ driver: 'bench-dev', id: 'b0' }) as BenchDevice;
dev.configWrite(0x10, 0xfe000000, 4);
dev.configWrite(regs.PCI_COMMAND, regs.PCI_COMMAND_MEMORY, 2);
dev.registers[4] = 0x12345678;
const bar = dev.bar(0);
if (bar === undefined) throw new Error('BAR 0 missing');

const plain = new DataView(new ArrayBuffer(256));
const scratch = new Uint8Array(4);
let sink = 0;

await runBenchSuite({
  title: '@vfu/pci: config space and BAR MMIO reads',
  timeMs: 500,
  baseline: {
    name: 'DataView.getUint32',
    fn: () => {
      sink ^= plain.getUint32(0x10, true);
    },
  },
  cases: [
    {
      name: 'configRead(0x10, 4)',
      fn: () => {
        sink ^= dev.configRead(0x10, 4);
      },
    },
    {
      name: 'configWrite(0x3c, v, 1) (no side effects)',
      fn: () => {
        dev.configWrite(regs.PCI_INTERRUPT_LINE, sink & 0xff, 1);
      },
    },
    {
      name: 'BAR 0 read 4 bytes, region-relative (bar.read)',
      fn: () => {
        bar.read(0x10n, scratch);
        sink ^= scratch[0] ?? 0;
      },
    },
    {
      name: 'BAR 0 readU32 through the bus memory space',
      fn: () => {
        sink ^= bus.memoryAddressSpace.readU32(0xfe000010n);
      },
    },
  ],
});
if (sink === 0x7fffffff) console.log('');
