import { MemoryRegion } from '@vfu/memory';
import { PciDevice, type PciDeviceInit, prop, type ResetKind } from '@vfu/pci';
import {
  PCI_TESTDEV_MMIO_SIZE,
  PCI_TESTDEV_PCI_IDS,
  PCI_TESTDEV_PORTIO_SIZE,
  PciTestdev,
} from '../pci-testdev';
import type { ZooContext } from './context';

const SIZE_SUFFIXES: Record<string, bigint> = {
  '': 1n,
  K: 1n << 10n,
  M: 1n << 20n,
  G: 1n << 30n,
  T: 1n << 40n,
};

/** A QEMU `size` property: bytes, with an optional K/M/G/T (binary) suffix, e.g. `1M`. */
const sizeProperty = (description: string) =>
  prop.custom<bigint>({
    typeName: 'size',
    description,
    default: 0n,
    parse(input) {
      if (typeof input === 'bigint' || typeof input === 'number') {
        const v = BigInt(input);
        if (v < 0n || v >= 1n << 64n) throw new RangeError(`${input} is out of range for a size`);
        return v;
      }
      const m = typeof input === 'string' ? /^\s*(0x[0-9a-f]+|[0-9]+)\s*([KMGT]?)B?\s*$/i.exec(input) : null;
      if (m === null)
        throw new TypeError(`'${String(input)}' is not a size (bytes, optionally with K, M, G or T)`);
      const v = BigInt(m[1]!) * SIZE_SUFFIXES[m[2]!.toUpperCase()]!;
      if (v >= 1n << 64n) throw new RangeError(`${input} is out of range for a size`);
      return v;
    },
    format: (v) => String(v),
  });

/** Properties of `-device pci-testdev`. */
export const pciTestdevProperties = {
  membar: sizeProperty('size of the optional BAR2 (64-bit prefetchable memory; a power of two, 0 = none)'),
  'membar-backed': prop.bool({
    default: false,
    description: 'back BAR2 with RAM (otherwise it decodes nothing)',
  }),
  'x-ioeventfd': prop.bool({
    default: true,
    description: 'writes matched by the eventfd tests go to their ioeventfd, uncounted, as in QEMU',
  }),
} as const;

/** Property schema type of {@link PciTestdevPciDevice}. */
export type PciTestdevProperties = typeof pciTestdevProperties;

/**
 * `pci-testdev` on a PCI bus: 1b36:0005, class 0x00ff00, no interrupt pin, BAR0 4 KiB 32-bit
 * memory and BAR1 256 bytes of I/O, each starting with the test header; with `membar=SIZE`, a
 * BAR2 of 64-bit prefetchable memory (RAM with `membar-backed=on`), as QEMU's `membar` options.
 */
export class PciTestdevPciDevice extends PciDevice {
  /** The model behind both BARs. */
  readonly testdev: PciTestdev;

  constructor(init: PciDeviceInit<PciTestdevProperties>, context: ZooContext = {}) {
    super(init, { ...PCI_TESTDEV_PCI_IDS, interruptPin: 0 });
    this.testdev = new PciTestdev({
      ioeventfd: init.props['x-ioeventfd'],
      ...(context.log === undefined ? {} : { log: context.log }),
    });
  }

  protected override realizePci(): void {
    const { mmio, portio } = this.testdev;
    // The memory core cuts unaligned MMIO into aligned pieces (as QEMU's dispatcher does) before
    // the device sees it; the device does its own byte split to match ioeventfds on whole accesses.
    const mmioRegion = MemoryRegion.io(
      'pci-testdev-mmio',
      BigInt(PCI_TESTDEV_MMIO_SIZE),
      {
        read: (offset, size) => mmio.read(offset, size),
        write: (offset, value, size) => mmio.write(offset, value, size),
        impl: { minAccessSize: 1, maxAccessSize: 4 },
      },
      { owner: this },
    );
    // Port I/O reaches the device whole, unaligned included: the device drops unaligned accesses.
    const portioRegion = MemoryRegion.io(
      'pci-testdev-portio',
      BigInt(PCI_TESTDEV_PORTIO_SIZE),
      {
        read: (offset, size) => portio.read(offset, size),
        write: (offset, value, size) => portio.write(offset, value, size),
        valid: { unaligned: true },
        impl: { minAccessSize: 1, maxAccessSize: 4, unaligned: true },
      },
      { owner: this },
    );
    this.registerBar(0, { kind: 'mem32', region: mmioRegion });
    this.registerBar(1, { kind: 'io', region: portioRegion });
    const membar = this.getProperty('membar') as bigint;
    if (membar > 0n) {
      // QEMU's BAR2: plain RAM when backed, else an empty container (reads 0, writes dropped).
      const region = this.getProperty('membar-backed')
        ? MemoryRegion.ram('pci-testdev-membar', membar, { owner: this })
        : MemoryRegion.container('pci-testdev-membar', membar, { owner: this });
      this.registerBar(2, { kind: 'mem64', prefetchable: true, region });
    }
  }

  protected override unrealizePci(): void {
    this.testdev.reset('cold');
  }

  protected override resetPci(kind: ResetKind): void {
    this.testdev.reset(kind);
  }
}
