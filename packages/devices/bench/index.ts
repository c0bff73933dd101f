/**
 * Register access cost of the device cores, as ratios to a plain Uint32Array read/write pair.
 * Run with `corepack pnpm --filter @vfu/devices bench` (VFU_BENCH_TIME_MS shortens it).
 */
import { DeviceTree, DeviceTypeRegistry, PciRootBus } from '@vfu/pci';
import { runBenchSuite } from '@vfu/test-utils';
import {
  eduDevice,
  ManualClock,
  MemoryCharBackend,
  PciIdio16,
  PciTestdev,
  registerZooDevices,
  Serial16550,
} from '../src/index';

const words = new Uint32Array(64);
let sink = 0;

const clock = new ManualClock();
const edu = eduDevice.createCore({}, { clock });
const testdev = new PciTestdev();
testdev.mmio.write(0, 0, 1);
const chardev = new MemoryCharBackend();
const uart = new Serial16550({ clock, chardev });
uart.write(2, 0x07, 1); // FIFOs on
const gpio = new PciIdio16();

// The same edu behind its BAR: the memory core's dispatch (valid/impl checks) on top of the core.
const registry = new DeviceTypeRegistry();
registerZooDevices(registry, { clock });
const tree = new DeviceTree({ registry });
tree.addRootBus(new PciRootBus({ id: 's0' }));
const eduPci = tree.deviceAddFromString('edu,id=edu0,bus=s0');
if (!eduDevice.is(eduPci)) throw new Error('edu0 is not an edu');
const bar0 = eduPci.bar(0)!;
const word = new Uint8Array(4);

await runBenchSuite({
  title: '@vfu/devices: one register write + read',
  baseline: {
    name: 'Uint32Array write+read',
    fn: () => {
      words[1] = sink;
      sink = words[1]! ^ 1;
    },
  },
  cases: [
    {
      name: 'edu liveness write+read (4 bytes)',
      fn: () => {
        edu.write(0x04, sink, 4);
        sink = edu.read(0x04, 4);
      },
    },
    {
      name: 'edu liveness through BAR0 dispatch (PciBar write+read)',
      fn: () => {
        bar0.write(4n, word);
        bar0.read(4n, word);
      },
    },
    {
      name: 'edu dma source write64+read64',
      fn: () => {
        edu.write64(0x80, 0x1234n);
        sink = Number(edu.read64(0x80));
      },
    },
    {
      name: 'pci-testdev count write+read (byte, 4 bytes)',
      fn: () => {
        testdev.mmio.write(0x800, 0xfa, 1);
        sink = testdev.mmio.read(0x0c, 4);
      },
    },
    {
      name: 'pci-serial THR write + LSR read (memory chardev)',
      fn: () => {
        uart.write(0, 0x41, 1);
        sink = uart.read(5, 1);
        if (sink === 0) chardev.takeOutput();
      },
      teardown: () => {
        chardev.takeOutput();
      },
    },
    {
      name: 'pci-serial receive 1 byte + RBR read',
      fn: () => {
        uart.receive(Uint8Array.of(0x42));
        sink = uart.read(0, 1);
      },
    },
    {
      name: 'pci-idio-16 output write + input read',
      fn: () => {
        gpio.write(0, sink & 0xff, 1);
        sink = gpio.read(1, 1);
      },
    },
  ],
});
