/**
 * A PCI function's bus-master DMA (QEMU `PCIDevice.bus_master_as` and `pci_dma_*`): an alias of
 * the bus's DMA space (or its IOMMU), enabled only while Command.BUS_MASTER is set, and the reads
 * and writes through it. With bus mastering off every access is a decode error (reads give zeros).
 */
import { type AddressSpace, MemoryRegion, type MemTxResult } from '@vfu/memory';
import type { PciRootBus } from './pci-bus';

const SPACE_64 = 1n << 64n;
const U64_MAX = SPACE_64 - 1n;

/** The DMA view of one function, set up at realize and destroyed at unrealize. */
export class BusMasterDma {
  readonly #root: MemoryRegion;
  readonly #alias: MemoryRegion;
  readonly addressSpace: AddressSpace;

  constructor(bus: PciRootBus, label: string, owner: object) {
    this.#root = MemoryRegion.container(`${label} bus-master-container`, SPACE_64, { owner });
    this.#alias = MemoryRegion.alias(`${label} bus-master`, bus.dmaEntry, 0n, SPACE_64, { owner });
    this.#alias.setEnabled(false);
    this.#root.addSubregion(0n, this.#alias);
    this.addressSpace = bus.memoryContext.createAddressSpace(`${label} bus-master`, this.#root);
  }

  /** Follows Command.BUS_MASTER. */
  setEnabled(enabled: boolean): void {
    this.#alias.setEnabled(enabled);
  }

  destroy(): void {
    this.addressSpace.destroy();
  }

  /**
   * DMA read (QEMU `pci_dma_read`): synchronous copy when the range is RAM, else asynchronous
   * (regions served by messages to the client). Unassigned or blocked ranges read as zeros; RAM
   * whose backing was lost (client memory truncated under its mapping) fails with `access-error`.
   */
  read(address: bigint, dest: Uint8Array): Promise<MemTxResult> {
    const done = this.addressSpace.readRam(address, dest);
    return done !== undefined ? Promise.resolve(done) : this.addressSpace.readAsync(address, dest);
  }

  /** DMA write: synchronous when the range is RAM (dirty tracking applies), else asynchronous. */
  write(address: bigint, data: Uint8Array): Promise<MemTxResult> {
    const done = this.addressSpace.writeRam(address, data);
    return done !== undefined ? Promise.resolve(done) : this.addressSpace.writeAsync(address, data);
  }

  /** Reads a little-endian u8/u16/u32 (zero on error). */
  async readUint(address: bigint, size: 1 | 2 | 4): Promise<number> {
    const buf = new Uint8Array(size);
    await this.read(address, buf);
    const dv = new DataView(buf.buffer);
    return size === 4 ? dv.getUint32(0, true) : size === 2 ? dv.getUint16(0, true) : dv.getUint8(0);
  }

  /** Reads a little-endian u64 (zero on error). */
  async readU64(address: bigint): Promise<bigint> {
    const buf = new Uint8Array(8);
    await this.read(address, buf);
    return new DataView(buf.buffer).getBigUint64(0, true);
  }

  /** Writes a little-endian u8/u16/u32. */
  writeUint(address: bigint, value: number, size: 1 | 2 | 4): Promise<MemTxResult> {
    const buf = new Uint8Array(size);
    const dv = new DataView(buf.buffer);
    if (size === 4) dv.setUint32(0, value >>> 0, true);
    else if (size === 2) dv.setUint16(0, value & 0xffff, true);
    else dv.setUint8(0, value & 0xff);
    return this.write(address, buf);
  }

  /** Writes a little-endian u64. */
  writeU64(address: bigint, value: bigint): Promise<MemTxResult> {
    const buf = new Uint8Array(8);
    new DataView(buf.buffer).setBigUint64(0, value & U64_MAX, true);
    return this.write(address, buf);
  }
}
