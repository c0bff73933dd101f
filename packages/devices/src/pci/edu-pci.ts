import { MemoryRegion } from '@vfu/memory';
import { PciDevice, type PciDeviceInit, prop, type ResetKind } from '@vfu/pci';
import { EDU_DEFAULT_DMA_DELAY_NS, EDU_DEFAULT_DMA_MASK, EDU_MMIO_SIZE, EDU_PCI_IDS, Edu } from '../edu';
import type { ZooContext } from './context';
import { busMasterDma, intxLine, msiNotifier } from './wiring';

/** Properties of `-device edu`. */
export const eduProperties = {
  dma_mask: prop.uint64({
    default: EDU_DEFAULT_DMA_MASK,
    description: 'DMA address mask (default 28 bits, as QEMU)',
  }),
  'x-dma-delay-ns': prop.uint32({
    default: EDU_DEFAULT_DMA_DELAY_NS,
    description: 'time from the DMA command to the transfer, in ns (QEMU: 100 ms)',
  }),
  'x-factorial-delay-ns': prop.uint32({
    default: 0,
    description: 'time from the factorial write to the result, in ns (0 = next event-loop turn)',
  }),
} as const;

/** Property schema type of {@link EduPciDevice}. */
export type EduProperties = typeof eduProperties;

/**
 * `edu` on a PCI bus: 1234:11e8 rev 0x10, class 0x00ff00, BAR0 1 MiB 32-bit MMIO, INTx pin A and
 * a 64-bit single-vector MSI capability at 0x40, DMA through the bus-master AddressSpace.
 */
export class EduPciDevice extends PciDevice {
  /** The register-level model behind BAR0. */
  readonly edu: Edu;

  constructor(init: PciDeviceInit<EduProperties>, context: ZooContext = {}) {
    super(init, { ...EDU_PCI_IDS, interruptPin: 1 });
    this.edu = new Edu({
      irq: intxLine(this),
      msi: msiNotifier(this),
      dma: busMasterDma(this),
      ...(context.clock === undefined ? {} : { clock: context.clock }),
      ...(context.log === undefined ? {} : { log: context.log }),
      dmaMask: init.props.dma_mask,
      dmaDelayNs: init.props['x-dma-delay-ns'],
      factorialDelayNs: init.props['x-factorial-delay-ns'],
      // The memory core hands 8-byte accesses to number-valued callbacks as two 4-byte halves.
      qwordHalves: true,
    });
  }

  protected override realizePci(): void {
    this.msiInit({ vectors: 1, address64: true, perVectorMask: false });
    const edu = this.edu;
    const region = MemoryRegion.io(
      'edu-mmio',
      BigInt(EDU_MMIO_SIZE),
      {
        read: (offset, size) => edu.read(offset, size),
        write: (offset, value, size) => edu.write(offset, value, size),
        // edu.rst: 4-byte accesses below 0x80, 4 or 8 bytes from 0x80 on.
        valid: {
          minAccessSize: 4,
          maxAccessSize: 8,
          accepts: (offset, size) => size === 4 || offset >= 0x80,
        },
        impl: { minAccessSize: 4, maxAccessSize: 4 },
      },
      { owner: this },
    );
    this.registerBar(0, { kind: 'mem32', region });
  }

  protected override unrealizePci(): void {
    this.edu.reset('cold');
  }

  protected override resetPci(kind: ResetKind): void {
    this.edu.reset(kind);
  }
}
