/**
 * A PCI root bus (host bridge) with its own address spaces: the isolation unit of vfu. Each root
 * bus owns a MemoryContext, a 64-bit memory-space container and a 64 KiB IO-space container where
 * its devices' BARs are mapped, and a DMA container + AddressSpace where the bus owner places
 * what devices may reach (vfio-user DMA_MAP regions), optionally behind an IOMMU region. Nothing
 * is shared between two root buses.
 */
import { type AddressSpace, MemoryContext, MemoryRegion } from '@vfu/memory';
import { hex, PciError, QdevError } from './errors';
import type { InterruptSink } from './interrupts';
import { Bus, type Device, type HotplugHandler } from './qdev/device';

/** Size of the whole 64-bit space, as a container size. */
const SPACE_64 = 1n << 64n;
/** x86-style IO port space. */
const IO_SPACE_SIZE = 0x10000n;

/** Number of devfns on a bus (32 slots x 8 functions). */
export const PCI_DEVFN_MAX = 256;

/** Formats a devfn as QEMU's `addr` property does: `04.0`. */
export function formatDevfn(devfn: number): string {
  return `${(devfn >> 3).toString(16).padStart(2, '0')}.${devfn & 7}`;
}

/** The part of a PCI device the bus needs for devfn bookkeeping. */
export interface PciFunction extends Device {
  readonly multifunction: boolean;
  /** Requested devfn (`addr` property) or -1 for automatic. */
  readonly requestedDevfn: number;
}

/** Options for a {@link PciRootBus}. */
export interface PciRootBusOptions {
  /** Bus id, e.g. the vfio-user server object id `s0`. */
  id: string;
  /** PCI Express root bus (accepts `PCIE` and `PCI` device types); default true. */
  express?: boolean;
  /** Where interrupts of devices on this bus go (can be set later). */
  interruptSink?: InterruptSink;
  hotplugHandler?: HotplugHandler;
  /** Lowest devfn used by automatic assignment (default 0). */
  devfnMin?: number;
  /** Allow BARs at address 0 (QEMU `pci_allow_0_address`); default false. */
  allowZeroAddress?: boolean;
  /**
   * Drop MSI/MSI-X messages while Command.BUS_MASTER is clear, as QEMU does by writing them
   * through the bus-master AddressSpace (default true).
   */
  msiRequiresBusMaster?: boolean;
}

/** A parentless PCI root bus with private memory, IO and DMA spaces. */
export class PciRootBus extends Bus {
  /** Owns transaction depth for every AddressSpace of this bus and its devices. */
  readonly memoryContext: MemoryContext;
  /** Where memory BARs are mapped (64-bit container). */
  readonly memorySpace: MemoryRegion;
  /** Where IO BARs are mapped (64 KiB container; IO BARs above it are unreachable, as on x86). */
  readonly ioSpace: MemoryRegion;
  /** AddressSpace over `memorySpace`: peer accesses and `info mtree`. */
  readonly memoryAddressSpace: AddressSpace;
  /** AddressSpace over `ioSpace`. */
  readonly ioAddressSpace: AddressSpace;
  /** Container holding what devices can DMA to: add DMA_MAP regions here, at their IOVA. */
  readonly dmaRoot: MemoryRegion;
  /** AddressSpace over `dmaRoot` (untranslated IOVA space): also the usual IOMMU target. */
  readonly dmaAddressSpace: AddressSpace;
  /** What each device's bus-master alias points at: `dmaRoot` or the IOMMU region. */
  readonly dmaEntry: MemoryRegion;
  readonly allowZeroAddress: boolean;
  readonly msiRequiresBusMaster: boolean;
  readonly devfnMin: number;
  /** Where interrupts go; `undefined` drops them (the device state still tracks them). */
  interruptSink: InterruptSink | undefined;
  readonly #dmaDirect: MemoryRegion;
  #iommu: MemoryRegion | undefined;
  readonly #devices: (PciFunction | undefined)[] = new Array(PCI_DEVFN_MAX).fill(undefined);

  constructor(opts: PciRootBusOptions) {
    super({
      id: opts.id,
      busTypes: (opts.express ?? true) ? ['PCIE', 'PCI'] : ['PCI'],
      ...(opts.hotplugHandler === undefined ? {} : { hotplugHandler: opts.hotplugHandler }),
    });
    const devfnMin = opts.devfnMin ?? 0;
    if (!Number.isInteger(devfnMin) || devfnMin < 0 || devfnMin >= PCI_DEVFN_MAX) {
      throw new PciError('invalid-devfn', `devfnMin ${devfnMin} out of range 0-255`, { busId: opts.id });
    }
    this.devfnMin = devfnMin;
    this.allowZeroAddress = opts.allowZeroAddress ?? false;
    this.msiRequiresBusMaster = opts.msiRequiresBusMaster ?? true;
    this.interruptSink = opts.interruptSink;
    const id = opts.id;
    this.memoryContext = new MemoryContext(id);
    this.memorySpace = MemoryRegion.container(`${id} pci-memory`, SPACE_64, { owner: this });
    this.ioSpace = MemoryRegion.container(`${id} pci-io`, IO_SPACE_SIZE, { owner: this });
    this.dmaRoot = MemoryRegion.container(`${id} dma`, SPACE_64, { owner: this });
    this.memoryAddressSpace = this.memoryContext.createAddressSpace(`${id} pci-memory`, this.memorySpace);
    this.ioAddressSpace = this.memoryContext.createAddressSpace(`${id} pci-io`, this.ioSpace);
    this.dmaAddressSpace = this.memoryContext.createAddressSpace(`${id} dma`, this.dmaRoot);
    this.dmaEntry = MemoryRegion.container(`${id} dma-entry`, SPACE_64, { owner: this });
    this.#dmaDirect = MemoryRegion.alias(`${id} dma-direct`, this.dmaRoot, 0n, SPACE_64, { owner: this });
    this.dmaEntry.addSubregion(0n, this.#dmaDirect);
  }

  /** The IOMMU region devices' DMA goes through, if any. */
  get iommu(): MemoryRegion | undefined {
    return this.#iommu;
  }

  /**
   * Puts an IOMMU region (kind `iommu`, usually translating into `dmaAddressSpace`) in front of
   * every device's DMA on this bus, or removes it (`undefined`). Takes effect at once for all
   * devices, in one memory transaction.
   */
  setIommu(region: MemoryRegion | undefined): void {
    if (region !== undefined && region.kind !== 'iommu') {
      throw new PciError(
        'bus-busy',
        `bus '${this.id}': IOMMU must be an iommu region, "${region.name}" is ${region.kind}`,
        {
          busId: this.id,
        },
      );
    }
    this.memoryContext.transaction(() => {
      if (this.#iommu !== undefined) this.dmaEntry.removeSubregion(this.#iommu);
      else this.dmaEntry.removeSubregion(this.#dmaDirect);
      this.#iommu = region;
      if (region !== undefined) this.dmaEntry.addSubregion(0n, region);
      else this.dmaEntry.addSubregion(0n, this.#dmaDirect);
    });
  }

  /** Devices on the bus in devfn order. */
  get functions(): PciFunction[] {
    return this.#devices.filter((d): d is PciFunction => d !== undefined);
  }

  /** The device at `devfn`, if any. */
  deviceAt(devfn: number): PciFunction | undefined {
    return this.#devices[devfn];
  }

  /** No free slot for automatic assignment. */
  override get full(): boolean {
    return this.#firstFreeSlot() < 0 || super.full;
  }

  /** Checks a PCI function fits before it is attached (devfn free, multifunction rules). */
  override checkDevice(device: Device): void {
    super.checkDevice(device);
    if (!isPciFunction(device)) {
      throw new QdevError(
        'wrong-bus-type',
        `device '${device.driver}' is not a PCI device; bus '${this.id}' is PCI`,
        {
          busId: this.id,
          driver: device.driver,
        },
      );
    }
    this.#pickDevfn(device);
  }

  /** @internal Claims the device's devfn at realize; returns it. */
  claimDevfn(device: PciFunction): number {
    const devfn = this.#pickDevfn(device);
    this.#devices[devfn] = device;
    return devfn;
  }

  /** @internal Releases a devfn at unrealize. */
  releaseDevfn(device: PciFunction): void {
    const i = this.#devices.indexOf(device);
    if (i >= 0) this.#devices[i] = undefined;
  }

  /** Destroys the bus's address spaces (after its devices are gone). */
  override destroy(): void {
    this.memoryAddressSpace.destroy();
    this.ioAddressSpace.destroy();
    this.dmaAddressSpace.destroy();
  }

  override qtreeDetails(): string[] {
    return [`iommu ${this.#iommu?.name ?? 'none'}`];
  }

  #firstFreeSlot(): number {
    for (let devfn = this.devfnMin; devfn < PCI_DEVFN_MAX; devfn += 8) {
      if (this.#devices[devfn] === undefined) return devfn;
    }
    return -1;
  }

  #pickDevfn(device: PciFunction): number {
    const ctx = { busId: this.id, ...(device.id === undefined ? {} : { deviceId: device.id }) };
    let devfn = device.requestedDevfn;
    if (devfn < 0) {
      devfn = this.#firstFreeSlot();
      if (devfn < 0) {
        throw new QdevError('bus-full', `PCI: no slot available for ${device.driver} on bus '${this.id}'`, {
          busId: this.id,
          driver: device.driver,
        });
      }
      return devfn;
    }
    if (!Number.isInteger(devfn) || devfn >= PCI_DEVFN_MAX) {
      throw new PciError('invalid-devfn', `PCI: devfn ${hex(devfn)} out of range`, { ...ctx, devfn });
    }
    const taken = this.#devices[devfn];
    if (taken !== undefined && taken !== device) {
      throw new PciError(
        'devfn-in-use',
        `PCI: slot ${devfn >> 3} function ${devfn & 7} not available for ${device.driver}, in use by ${taken.driver},id=${taken.id ?? ''}`,
        { ...ctx, devfn },
      );
    }
    const slot = devfn & ~7;
    const fn0 = this.#devices[slot];
    if ((devfn & 7) !== 0) {
      if (fn0 !== undefined && fn0 !== device && !fn0.multifunction) {
        throw new PciError(
          'devfn-in-use',
          `PCI: single function device can't be populated in function ${formatDevfn(devfn)}`,
          { ...ctx, devfn },
        );
      }
    } else if (!device.multifunction) {
      for (let fn = 1; fn < 8; fn++) {
        if (this.#devices[slot + fn] !== undefined) {
          throw new PciError(
            'devfn-in-use',
            `PCI: ${formatDevfn(slot)} indicates single function, but ${formatDevfn(slot + fn)} is already populated`,
            { ...ctx, devfn },
          );
        }
      }
    }
    return devfn;
  }
}

function isPciFunction(device: Device): device is PciFunction {
  return typeof (device as Partial<PciFunction>).requestedDevfn === 'number';
}
