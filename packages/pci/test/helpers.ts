import { MemoryRegion } from '@vfu/memory';
import {
  type DeviceClass,
  DeviceTree,
  DeviceTypeRegistry,
  definePciDeviceClass,
  type InterruptSink,
  type IrqStateEvent,
  type MsiMessage,
  PciDevice,
  type PciDeviceInit,
  type PciIdentity,
  PciRootBus,
  prop,
} from '../src/index';

/** A PCI function whose realize is supplied by the test. */
export class TestPciDevice extends PciDevice {
  readonly setup: (dev: TestPciDevice) => void;
  readonly log: string[] = [];
  constructor(
    init: PciDeviceInit,
    identity: Partial<PciIdentity> = {},
    setup: (dev: TestPciDevice) => void = () => {},
  ) {
    super(init, { vendorId: 0x1234, deviceId: 0x5678, classCode: 0x00ff00, revision: 1, ...identity });
    this.setup = setup;
  }
  protected override realizePci(): void {
    this.log.push('realize');
    this.setup(this);
  }
  protected override unrealizePci(): void {
    this.log.push('unrealize');
  }
  protected override resetPci(kind: 'cold' | 'warm'): void {
    this.log.push(`reset:${kind}`);
  }
}

/** Registers `name` as a TestPciDevice type with the given setup. */
export function testDeviceClass(
  name: string,
  setup: (dev: TestPciDevice) => void = () => {},
  identity: Partial<PciIdentity> = {},
): DeviceClass {
  return definePciDeviceClass({
    name,
    description: `test device ${name}`,
    category: 'Misc devices',
    properties: { level: prop.uint8({ default: 3, description: 'a test knob' }) },
    create: (init) => new TestPciDevice(init, identity, setup),
  }) as unknown as DeviceClass;
}

/** A sink that records every call. */
export class RecordingSink implements InterruptSink {
  readonly intxLevels: boolean[] = [];
  readonly msis: Array<{ vector: number; message: MsiMessage }> = [];
  readonly msixs: Array<{ vector: number; message: MsiMessage }> = [];
  readonly events: IrqStateEvent[] = [];
  intx(_d: PciDevice, level: boolean): void {
    this.intxLevels.push(level);
  }
  msi(_d: PciDevice, vector: number, message: MsiMessage): void {
    this.msis.push({ vector, message });
  }
  msix(_d: PciDevice, vector: number, message: MsiMessage): void {
    this.msixs.push({ vector, message });
  }
  irqStateChanged(_d: PciDevice, event: IrqStateEvent): void {
    this.events.push(event);
  }
}

/** An MMIO region that records accesses and returns `0xa5a5a500 | offset` on reads. */
export function recordingMmio(name: string, size: bigint, log: string[]): MemoryRegion {
  return MemoryRegion.io(name, size, {
    read: (off, sz) => {
      log.push(`${name} r ${off.toString(16)}/${sz}`);
      return ((0xa5a5a500 | off) >>> 0) & (sz === 4 ? 0xffffffff : sz === 2 ? 0xffff : 0xff);
    },
    write: (off, value, sz) => {
      log.push(`${name} w ${off.toString(16)}=${value.toString(16)}/${sz}`);
    },
  });
}

/** A tree with one root bus `s0` and a sink; returns a device created by `setup`. */
export function singleDevice(
  setup: (dev: TestPciDevice) => void = () => {},
  identity: Partial<PciIdentity> = {},
): { tree: DeviceTree; bus: PciRootBus; dev: TestPciDevice; sink: RecordingSink } {
  const registry = new DeviceTypeRegistry();
  registry.register(testDeviceClass('test-dev', setup, identity));
  const tree = new DeviceTree({ registry });
  const sink = new RecordingSink();
  const bus = new PciRootBus({ id: 's0', interruptSink: sink });
  tree.addRootBus(bus);
  const dev = tree.deviceAdd({ driver: 'test-dev', id: 'd0' }) as TestPciDevice;
  return { tree, bus, dev, sink };
}
