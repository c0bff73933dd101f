import {
  PCI_BASE_ADDRESS_0,
  PCI_BASE_ADDRESS_IO_MASK,
  PCI_BASE_ADDRESS_MEM_MASK,
  PCI_BASE_ADDRESS_MEM_TYPE_64,
  PCI_BASE_ADDRESS_MEM_TYPE_MASK,
  PCI_BASE_ADDRESS_SPACE_IO,
  PCI_CFG_SPACE_EXP_SIZE,
  PCI_CFG_SPACE_SIZE,
  PCI_COMMAND,
  PCI_COMMAND_INTX_DISABLE,
  PCI_COMMAND_IO,
  PCI_COMMAND_MASTER,
  PCI_COMMAND_MEMORY,
  PCI_MSI_ADDRESS_HI,
  PCI_MSI_ADDRESS_LO,
  PCI_MSI_FLAGS,
  PCI_MSI_FLAGS_ENABLE,
  PCI_MSI_FLAGS_QSIZE,
  PCI_MSIX_ENTRY_DATA,
  PCI_MSIX_ENTRY_LOWER_ADDR,
  PCI_MSIX_ENTRY_SIZE,
  PCI_MSIX_ENTRY_UPPER_ADDR,
  PCI_MSIX_ENTRY_VECTOR_CTRL,
  PCI_MSIX_FLAGS,
  PCI_MSIX_FLAGS_ENABLE,
  PCI_MSIX_FLAGS_MASKALL,
  PCI_NUM_BARS,
} from '@vfu/pci-regs';
import { VfioPciIrq, VfioPciRegion } from '@vfu/protocol';
import type { VfioUserClient } from './client';
import { ClientError } from './errors';
import {
  type BarAssignment,
  type BarWindows,
  DEFAULT_BAR_WINDOWS,
  decodeBar,
  interruptCapabilities,
  type MsiCapability,
  type MsixCapability,
  type PciBar,
  type PciCapability,
  type PciConfigHeader,
  parseConfigHeader,
  planBarAssignment,
  walkCapabilities,
} from './pci-config';

/** Each BAR register is one dword. */
const BAR_REG_SIZE = 4;
/** Written to a BAR to size it: the bits that stay zero give the size. */
const BAR_SIZING_PATTERN = 0xffff_ffff;
/** Multiple Message Enable sits at bits 6:4 of the MSI flags (PCI_MSI_FLAGS_QSIZE). */
const PCI_MSI_FLAGS_QSIZE_SHIFT = 4;

/** What the PCI helper needs of a client (a {@link VfioUserClient}, or a fake in tests). */
export type PciTarget = Pick<VfioUserClient, 'region' | 'regionRead' | 'regionWrite' | 'enableIrq' | 'irqs'>;

/** The x86 MSI address window; vectors are told apart by their data value. */
export const MSI_ADDRESS_BASE = 0xfee0_0000;

/** A BAR as found by {@link PciDeviceHandle.sizeBars}, with the vfio region size beside it. */
export interface SizedBar extends PciBar {
  /** Size of the vfio region of this BAR (what REGION_READ/WRITE accept). */
  regionSize: bigint;
}

/**
 * A PCI device seen through a vfio-user client, as a guest's firmware and driver see it:
 * config-space access (region 7), BAR sizing and assignment, COMMAND bits, the capability list,
 * MSI and MSI-X programming (the MSI-X table through its BAR) bound to the client's eventfds.
 */
export class PciDeviceHandle {
  readonly #target: PciTarget;

  constructor(target: PciTarget) {
    this.#target = target;
  }

  /** Size of config space: the CONFIG region's size, at most 4096 (256 when absent). */
  get configSize(): number {
    const size = this.#target.region(VfioPciRegion.Config).size;
    if (size === 0n) return PCI_CFG_SPACE_SIZE;
    return Number(size > BigInt(PCI_CFG_SPACE_EXP_SIZE) ? BigInt(PCI_CFG_SPACE_EXP_SIZE) : size);
  }

  /** A snapshot of the whole config space. */
  readConfig(): Promise<Uint8Array> {
    return this.#target.regionRead(VfioPciRegion.Config, 0, this.configSize);
  }

  /** 1-byte config read. */
  async configRead8(offset: number): Promise<number> {
    return (await this.#target.regionRead(VfioPciRegion.Config, offset, 1))[0] as number;
  }

  /** 2-byte config read. */
  async configRead16(offset: number): Promise<number> {
    const b = await this.#target.regionRead(VfioPciRegion.Config, offset, 2);
    return (b[0] as number) | ((b[1] as number) << 8);
  }

  /** 4-byte config read. */
  async configRead32(offset: number): Promise<number> {
    const b = await this.#target.regionRead(VfioPciRegion.Config, offset, 4);
    return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
  }

  /** 1-byte config write. */
  configWrite8(offset: number, value: number): Promise<void> {
    return this.#target.regionWrite(VfioPciRegion.Config, offset, Uint8Array.of(value & 0xff));
  }

  /** 2-byte config write. */
  configWrite16(offset: number, value: number): Promise<void> {
    return this.#target.regionWrite(
      VfioPciRegion.Config,
      offset,
      Uint8Array.of(value & 0xff, (value >> 8) & 0xff),
    );
  }

  /** 4-byte config write. */
  configWrite32(offset: number, value: number): Promise<void> {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value >>> 0, true);
    return this.#target.regionWrite(VfioPciRegion.Config, offset, b);
  }

  /** The type-0 header. */
  async header(): Promise<PciConfigHeader> {
    return parseConfigHeader(await this.readConfig());
  }

  /** The capability list (standard, then extended). */
  async capabilities(): Promise<PciCapability[]> {
    return walkCapabilities(await this.readConfig());
  }

  /**
   * Sizes every BAR the way firmware does: with memory and IO decode off, write all-ones, read
   * back, restore. Returns the implemented BARs (size > 0); a 64-bit BAR covers two slots.
   */
  async sizeBars(): Promise<SizedBar[]> {
    const command = await this.configRead16(PCI_COMMAND);
    await this.configWrite16(PCI_COMMAND, command & ~(PCI_COMMAND_MEMORY | PCI_COMMAND_IO));
    const bars: SizedBar[] = [];
    try {
      for (let i = 0; i < PCI_NUM_BARS; i++) {
        const reg = PCI_BASE_ADDRESS_0 + BAR_REG_SIZE * i;
        const original = await this.configRead32(reg);
        await this.configWrite32(reg, BAR_SIZING_PATTERN);
        const sized = await this.configRead32(reg);
        await this.configWrite32(reg, original);
        const is64 =
          (original & PCI_BASE_ADDRESS_SPACE_IO) === 0 &&
          (original & PCI_BASE_ADDRESS_MEM_TYPE_MASK) === PCI_BASE_ADDRESS_MEM_TYPE_64 &&
          i < PCI_NUM_BARS - 1;
        let bar: PciBar;
        if (is64) {
          const upperReg = reg + BAR_REG_SIZE;
          const upperOriginal = await this.configRead32(upperReg);
          await this.configWrite32(upperReg, BAR_SIZING_PATTERN);
          const upperSized = await this.configRead32(upperReg);
          await this.configWrite32(upperReg, upperOriginal);
          bar = decodeBar(i, original, sized, upperOriginal, upperSized);
        } else {
          bar = decodeBar(i, original, sized);
        }
        const regionSize = this.#target.region(i).size;
        if (bar.size > 0n) bars.push({ ...bar, regionSize });
        if (is64) i++;
      }
    } finally {
      await this.configWrite16(PCI_COMMAND, command);
    }
    return bars;
  }

  /**
   * Sizes the BARs and programs an address into each (32-bit memory below 4 GiB, 64-bit memory
   * above, IO in the IO window), leaving decode off; call {@link enable} afterwards.
   */
  async assignBars(windows: BarWindows = DEFAULT_BAR_WINDOWS): Promise<BarAssignment[]> {
    const plan = planBarAssignment(await this.sizeBars(), windows);
    for (const { bar, address } of plan) {
      const reg = PCI_BASE_ADDRESS_0 + BAR_REG_SIZE * bar.index;
      const low = await this.configRead32(reg);
      const typeBits = low & ~(bar.kind === 'io' ? PCI_BASE_ADDRESS_IO_MASK : PCI_BASE_ADDRESS_MEM_MASK);
      await this.configWrite32(reg, Number(address & 0xffff_ffffn) | typeBits);
      if (bar.kind === 'mem64') await this.configWrite32(reg + BAR_REG_SIZE, Number(address >> 32n));
    }
    return plan;
  }

  /** Sets COMMAND bits: memory and IO decode, bus mastering (all default on), INTx disable. */
  async enable(
    options: { memory?: boolean; io?: boolean; busMaster?: boolean; intxDisable?: boolean } = {},
  ): Promise<number> {
    let command = await this.configRead16(PCI_COMMAND);
    const set = (bit: number, on: boolean | undefined, dflt: boolean) => {
      if (on ?? dflt) command |= bit;
      else command &= ~bit;
    };
    set(PCI_COMMAND_MEMORY, options.memory, true);
    set(PCI_COMMAND_IO, options.io, true);
    set(PCI_COMMAND_MASTER, options.busMaster, true);
    if (options.intxDisable !== undefined) set(PCI_COMMAND_INTX_DISABLE, options.intxDisable, false);
    await this.configWrite16(PCI_COMMAND, command);
    return command;
  }

  /** The MSI and MSI-X capabilities, if the device has them. */
  async interruptCapabilities(): Promise<{ msi?: MsiCapability; msix?: MsixCapability }> {
    return interruptCapabilities(await this.readConfig());
  }

  /**
   * Binds INTx to an eventfd (`intx` events) and clears COMMAND.INTX_DISABLE. INTx is
   * automasked: unmask it (`client.unmaskIrq(VfioPciIrq.Intx)`) after handling each one.
   */
  async setupIntx(): Promise<void> {
    const irq = this.#target.irqs[VfioPciIrq.Intx];
    if (irq === undefined || irq.count === 0) {
      throw new ClientError('not-supported', 'the device has no INTx', { irqIndex: VfioPciIrq.Intx });
    }
    await this.#target.enableIrq(VfioPciIrq.Intx, { start: 0, count: 1 });
    const command = await this.configRead16(PCI_COMMAND);
    await this.configWrite16(PCI_COMMAND, command & ~PCI_COMMAND_INTX_DISABLE);
  }

  /**
   * Enables MSI with up to `vectors` vectors (rounded down to what the device offers, a power of
   * two): programs address and data, binds one eventfd per vector, then sets the enable bit.
   * Returns the number of vectors enabled.
   */
  async setupMsi(vectors = 1): Promise<number> {
    const config = await this.readConfig();
    const msi = interruptCapabilities(config).msi;
    if (msi === undefined)
      throw new ClientError('not-supported', 'the device has no MSI capability', {
        irqIndex: VfioPciIrq.Msi,
      });
    const irqCount = this.#target.irqs[VfioPciIrq.Msi]?.count ?? 0;
    let n = 1;
    while (n * 2 <= Math.min(vectors, msi.maxVectors, irqCount)) n *= 2;
    if (irqCount === 0)
      throw new ClientError('not-supported', 'the server reports no MSI vectors', {
        irqIndex: VfioPciIrq.Msi,
      });
    await this.configWrite32(msi.offset + PCI_MSI_ADDRESS_LO, MSI_ADDRESS_BASE);
    if (msi.is64Bit) await this.configWrite32(msi.offset + PCI_MSI_ADDRESS_HI, 0);
    await this.configWrite16(msi.dataOffset, 0);
    await this.#target.enableIrq(VfioPciIrq.Msi, { start: 0, count: n });
    const flags = await this.configRead16(msi.offset + PCI_MSI_FLAGS);
    const mme = Math.log2(n) << PCI_MSI_FLAGS_QSIZE_SHIFT;
    await this.configWrite16(
      msi.offset + PCI_MSI_FLAGS,
      (flags & ~PCI_MSI_FLAGS_QSIZE) | mme | PCI_MSI_FLAGS_ENABLE,
    );
    return n;
  }

  /**
   * Enables MSI-X with up to `vectors` vectors: binds eventfds, writes each table entry through
   * the table's BAR (address, data = vector number, unmasked), then sets MSI-X enable and clears
   * the function mask. Returns the number of vectors enabled.
   */
  async setupMsix(vectors?: number): Promise<number> {
    const config = await this.readConfig();
    const msix = interruptCapabilities(config).msix;
    if (msix === undefined)
      throw new ClientError('not-supported', 'the device has no MSI-X capability', {
        irqIndex: VfioPciIrq.Msix,
      });
    const irqCount = this.#target.irqs[VfioPciIrq.Msix]?.count ?? 0;
    const n = Math.min(vectors ?? msix.tableSize, msix.tableSize, irqCount);
    if (n < 1)
      throw new ClientError('not-supported', 'the server reports no MSI-X vectors', {
        irqIndex: VfioPciIrq.Msix,
      });
    await this.#target.enableIrq(VfioPciIrq.Msix, { start: 0, count: n });
    // Function mask on while the table is written, so no half-programmed vector fires.
    const flags = await this.configRead16(msix.offset + PCI_MSIX_FLAGS);
    await this.configWrite16(
      msix.offset + PCI_MSIX_FLAGS,
      flags | PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL,
    );
    for (let v = 0; v < n; v++) {
      // Dword writes: the MSI-X table only has to accept 4-byte accesses (PCI spec 6.8.2).
      const base = msix.tableOffset + v * PCI_MSIX_ENTRY_SIZE;
      const fields: [number, number][] = [
        [PCI_MSIX_ENTRY_LOWER_ADDR, MSI_ADDRESS_BASE],
        [PCI_MSIX_ENTRY_UPPER_ADDR, 0],
        [PCI_MSIX_ENTRY_DATA, v],
        [PCI_MSIX_ENTRY_VECTOR_CTRL, 0],
      ];
      for (const [field, value] of fields) {
        const b = new Uint8Array(4);
        new DataView(b.buffer).setUint32(0, value >>> 0, true);
        await this.#target.regionWrite(msix.tableBar, base + field, b);
      }
    }
    await this.configWrite16(
      msix.offset + PCI_MSIX_FLAGS,
      (flags | PCI_MSIX_FLAGS_ENABLE) & ~PCI_MSIX_FLAGS_MASKALL,
    );
    return n;
  }
}
