/**
 * MSI-X capability (ID 0x11), PCI Local Bus 3.0 §6.8.2, modelled on QEMU `hw/pci/msix.c`: the
 * table and PBA live in BAR memory as MMIO regions overlaying the BAR (priority 1 in the BAR's
 * container), all vectors start masked, and a masked vector that fires sets its PBA bit, delivered
 * when unmasked (entry mask or function mask cleared).
 */
import { MemoryRegion, type MemoryRegionOps } from '@vfu/memory';
import type { PciBar } from '../bar';
import { hex, PciError } from '../errors';
import type { MsiMessage, MsiOutcome } from '../interrupts';
import {
  PCI_CAP_ID_MSIX,
  PCI_CAP_MSIX_SIZEOF,
  PCI_MSIX_ENTRY_CTRL_MASKBIT,
  PCI_MSIX_ENTRY_DATA,
  PCI_MSIX_ENTRY_LOWER_ADDR,
  PCI_MSIX_ENTRY_SIZE,
  PCI_MSIX_ENTRY_UPPER_ADDR,
  PCI_MSIX_ENTRY_VECTOR_CTRL,
  PCI_MSIX_FLAGS,
  PCI_MSIX_FLAGS_ENABLE,
  PCI_MSIX_FLAGS_MASKALL,
  PCI_MSIX_PBA,
  PCI_MSIX_TABLE,
} from '../regs';
import { type CapabilityHost, rangesOverlap } from './host';

/** How to build an MSI-X capability. The table and PBA BARs must be registered memory BARs. */
export interface MsixOptions {
  /** Table size, 1-2048. */
  vectors: number;
  tableBar: number;
  /** Offset of the table in its BAR (8-byte aligned). */
  tableOffset: number;
  pbaBar: number;
  /** Offset of the PBA in its BAR (8-byte aligned). */
  pbaOffset: number;
  /** Config-space offset; 0 or absent = first free space. */
  offset?: number;
}

/** Byte offset of the control byte holding the enable and function-mask bits. */
const CONTROL_BYTE = PCI_MSIX_FLAGS + 1;

/** A device's MSI-X capability, table and PBA. */
export class MsixCapability {
  readonly offset: number;
  /** Table size. */
  readonly vectors: number;
  /** The table bytes (N x 16), little-endian. */
  readonly table: Uint8Array;
  /** The pending bit array (ceil(N/64) x 8 bytes). */
  readonly pba: Uint8Array;
  /** MMIO region of the table, overlaying the table BAR. */
  readonly tableRegion: MemoryRegion;
  /** MMIO region of the PBA, overlaying the PBA BAR. */
  readonly pbaRegion: MemoryRegion;
  readonly tableBar: PciBar;
  readonly pbaBar: PciBar;
  readonly tableOffset: number;
  readonly pbaOffset: number;
  readonly #host: CapabilityHost;
  readonly #tableView: DataView;
  /** Cached as QEMU's `msix_function_masked`: disabled or function mask set. */
  #functionMasked = true;
  #reportedEnabled = false;
  #reportedFunctionMask = false;

  /** @internal Use `PciDevice.msixInit`. */
  constructor(host: CapabilityHost, opts: MsixOptions, tableBar: PciBar, pbaBar: PciBar) {
    const { vectors, tableOffset, pbaOffset } = opts;
    const fail = (msg: string): never => {
      throw new PciError('invalid-capability', `${host.label}: MSI-X ${msg}`);
    };
    if (!Number.isInteger(vectors) || vectors < 1 || vectors > 2048)
      fail(`table size ${vectors} must be in 1-2048`);
    if (tableBar.isIo || tableBar.kind === 'rom' || pbaBar.isIo || pbaBar.kind === 'rom') {
      fail('table and PBA must live in memory BARs');
    }
    const tableSize = vectors * PCI_MSIX_ENTRY_SIZE;
    const pbaSize = Math.ceil(vectors / 64) * 8;
    if (!Number.isInteger(tableOffset) || tableOffset < 0 || tableOffset % 8 !== 0)
      fail(`table offset ${hex(tableOffset)} must be 8-byte aligned`);
    if (!Number.isInteger(pbaOffset) || pbaOffset < 0 || pbaOffset % 8 !== 0)
      fail(`PBA offset ${hex(pbaOffset)} must be 8-byte aligned`);
    if (BigInt(tableOffset + tableSize) > tableBar.size) {
      fail(
        `table ${hex(tableOffset)}+${hex(tableSize)} does not fit BAR ${tableBar.index} (size ${hex(tableBar.size)})`,
      );
    }
    if (BigInt(pbaOffset + pbaSize) > pbaBar.size) {
      fail(
        `PBA ${hex(pbaOffset)}+${hex(pbaSize)} does not fit BAR ${pbaBar.index} (size ${hex(pbaBar.size)})`,
      );
    }
    if (tableBar === pbaBar && rangesOverlap(tableOffset, tableSize, pbaOffset, pbaSize)) {
      fail(`table ${hex(tableOffset)}+${hex(tableSize)} overlaps PBA ${hex(pbaOffset)}+${hex(pbaSize)}`);
    }
    this.#host = host;
    this.vectors = vectors;
    this.tableBar = tableBar;
    this.pbaBar = pbaBar;
    this.tableOffset = tableOffset;
    this.pbaOffset = pbaOffset;
    this.table = new Uint8Array(tableSize);
    this.pba = new Uint8Array(pbaSize);
    this.#tableView = new DataView(this.table.buffer);

    const cfg = host.config;
    this.offset = cfg.addCapability(PCI_CAP_ID_MSIX, opts.offset ?? 0, PCI_CAP_MSIX_SIZEOF);
    cfg.setWord(this.offset + PCI_MSIX_FLAGS, vectors - 1);
    cfg.setLong(this.offset + PCI_MSIX_TABLE, (tableOffset | tableBar.index) >>> 0);
    cfg.setLong(this.offset + PCI_MSIX_PBA, (pbaOffset | pbaBar.index) >>> 0);
    cfg.wmask[this.offset + CONTROL_BYTE] = (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) >> 8;

    // Guests use aligned dword accesses; qwords are accepted and split, as QEMU does.
    const access = { valid: { minAccessSize: 4, maxAccessSize: 8 }, impl: { maxAccessSize: 4 } } as const;
    const tableOps: MemoryRegionOps = {
      ...access,
      read: (off) => this.#tableView.getUint32(off, true),
      write: (off, value) => this.#tableWrite(off, value),
    };
    const pbaOps: MemoryRegionOps = {
      ...access,
      read: (off) => new DataView(this.pba.buffer).getUint32(off, true),
      write: () => {},
    };
    this.tableRegion = MemoryRegion.io(`${host.label} msix-table`, BigInt(tableSize), tableOps, {
      owner: host,
    });
    this.pbaRegion = MemoryRegion.io(`${host.label} msix-pba`, BigInt(pbaSize), pbaOps, { owner: host });
    tableBar.root.addSubregionOverlap(BigInt(tableOffset), this.tableRegion, 1);
    pbaBar.root.addSubregionOverlap(BigInt(pbaOffset), this.pbaRegion, 1);
    this.#maskAll();
  }

  /** MSI-X Enable bit. */
  get enabled(): boolean {
    return (this.#control & PCI_MSIX_FLAGS_ENABLE) !== 0;
  }

  /** Function Mask bit. */
  get functionMask(): boolean {
    return (this.#control & PCI_MSIX_FLAGS_MASKALL) !== 0;
  }

  get #control(): number {
    return this.#host.config.getWord(this.offset + PCI_MSIX_FLAGS);
  }

  /** Whether table entry `v` has its own mask bit set. */
  isVectorMasked(vector: number): boolean {
    this.#checkVector(vector);
    return (
      (this.#tableView.getUint32(vector * 16 + PCI_MSIX_ENTRY_VECTOR_CTRL, true) &
        PCI_MSIX_ENTRY_CTRL_MASKBIT) !==
      0
    );
  }

  /** Effective mask: MSI-X disabled, function masked, or the entry masked. */
  isMasked(vector: number): boolean {
    return this.#maskedWith(vector, this.#functionMasked);
  }

  /** PBA bit of vector `v`. */
  isPending(vector: number): boolean {
    this.#checkVector(vector);
    return ((this.pba[vector >> 3] as number) >> (vector & 7)) % 2 === 1;
  }

  /** The message table entry `v` holds. */
  message(vector: number): MsiMessage {
    this.#checkVector(vector);
    const base = vector * PCI_MSIX_ENTRY_SIZE;
    const lo = this.#tableView.getUint32(base + PCI_MSIX_ENTRY_LOWER_ADDR, true);
    const hi = this.#tableView.getUint32(base + PCI_MSIX_ENTRY_UPPER_ADDR, true);
    return {
      address: (BigInt(hi) << 32n) | BigInt(lo),
      data: this.#tableView.getUint32(base + PCI_MSIX_ENTRY_DATA, true),
    };
  }

  /**
   * Fires vector `v` (QEMU `msix_notify`): if masked in any way (incl. MSI-X disabled) its PBA bit
   * is set and the message waits; otherwise it goes to the bus's sink.
   */
  notify(vector: number): MsiOutcome {
    this.#checkVector(vector);
    if (this.isMasked(vector)) {
      this.#setPending(vector, true);
      return 'pending';
    }
    return this.#host.sendMessage('msix', vector, this.message(vector));
  }

  /** @internal After a config write (QEMU `msix_write_config`). */
  configWritten(addr: number, len: number): void {
    if (!rangesOverlap(addr, len, this.offset + CONTROL_BYTE, 1)) return;
    const wasMasked = this.#functionMasked;
    this.#functionMasked = !this.enabled || this.functionMask;
    this.#report();
    if (!this.enabled) return;
    this.#host.deassertIntx();
    if (this.#functionMasked === wasMasked) return;
    for (let v = 0; v < this.vectors; v++) this.#maskUpdate(v, this.#maskedWith(v, wasMasked));
  }

  /** @internal Device reset: disabled, table zeroed with every vector masked, PBA cleared. */
  reset(): void {
    const cfg = this.#host.config;
    const at = this.offset + CONTROL_BYTE;
    cfg.config[at] = (cfg.config[at] as number) & ~(cfg.wmask[at] as number);
    this.table.fill(0);
    this.pba.fill(0);
    this.#maskAll();
    this.#functionMasked = true;
    this.#report();
  }

  /** @internal Removes the table/PBA overlays from their BARs (device unrealize). */
  uninstall(): void {
    this.tableBar.root.removeSubregion(this.tableRegion);
    this.pbaBar.root.removeSubregion(this.pbaRegion);
  }

  #maskAll(): void {
    for (let v = 0; v < this.vectors; v++) {
      const at = v * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_VECTOR_CTRL;
      this.#tableView.setUint32(at, this.#tableView.getUint32(at, true) | PCI_MSIX_ENTRY_CTRL_MASKBIT, true);
    }
  }

  #tableWrite(off: number, value: number): void {
    const vector = Math.floor(off / PCI_MSIX_ENTRY_SIZE);
    const wasMasked = this.isMasked(vector);
    const wasEntryMasked = this.isVectorMasked(vector);
    this.#tableView.setUint32(off, value >>> 0, true);
    const entryMasked = this.isVectorMasked(vector);
    if (entryMasked !== wasEntryMasked) {
      this.#host.reportIrqState({ kind: 'msix-vector-mask', vector, masked: entryMasked });
    }
    this.#maskUpdate(vector, wasMasked);
  }

  #maskUpdate(vector: number, wasMasked: boolean): void {
    const masked = this.isMasked(vector);
    if (masked === wasMasked) return;
    if (!masked && this.isPending(vector)) {
      this.#setPending(vector, false);
      this.notify(vector);
    }
  }

  #maskedWith(vector: number, functionMasked: boolean): boolean {
    return functionMasked || this.isVectorMasked(vector);
  }

  #setPending(vector: number, pending: boolean): void {
    const i = vector >> 3;
    const bit = 1 << (vector & 7);
    this.pba[i] = pending ? (this.pba[i] as number) | bit : (this.pba[i] as number) & ~bit;
  }

  #report(): void {
    const enabled = this.enabled;
    const functionMasked = this.functionMask;
    if (enabled !== this.#reportedEnabled || functionMasked !== this.#reportedFunctionMask) {
      this.#reportedEnabled = enabled;
      this.#reportedFunctionMask = functionMasked;
      this.#host.reportIrqState({ kind: 'msix-enable', enabled, functionMasked });
    }
  }

  #checkVector(vector: number): void {
    if (!Number.isInteger(vector) || vector < 0 || vector >= this.vectors) {
      throw new PciError(
        'invalid-vector',
        `${this.#host.label}: MSI-X vector ${vector} out of range (table size ${this.vectors})`,
        {
          vector,
        },
      );
    }
  }
}

/**
 * Size of a BAR holding only an MSI-X table (at 0) and its PBA, as QEMU's `msix_init_exclusive_bar`
 * lays it out: 4 KiB with the PBA at half, or the next power of two that fits.
 */
export function msixExclusiveBarLayout(
  vectors: number,
  label: string,
): { barSize: number; pbaOffset: number } {
  if (!Number.isInteger(vectors) || vectors < 1 || vectors > 2048) {
    throw new PciError('invalid-capability', `${label}: MSI-X table size ${vectors} must be in 1-2048`);
  }
  let barSize = 4096;
  let pbaOffset = barSize / 2;
  const pbaSize = Math.ceil(vectors / 64) * 8;
  if (vectors * 16 > pbaOffset) pbaOffset = vectors * 16;
  if (pbaOffset + pbaSize > 4096) barSize = pbaOffset + pbaSize;
  return { barSize: 2 ** Math.ceil(Math.log2(barSize)), pbaOffset };
}
