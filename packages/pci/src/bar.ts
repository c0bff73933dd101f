/**
 * A registered PCI region (QEMU `PCIIORegion`): one of BAR0-5 or the expansion ROM. The device's
 * MemoryRegion sits at offset 0 of a per-BAR container (so MSI-X table/PBA can overlay it, as QEMU
 * adds them as subregions of the BAR), and the container is the root of a private AddressSpace:
 * region-relative accesses (vfio-user REGION_READ/WRITE) dispatch through it, with the memory
 * core's access-size rules, without looking at guest-programmed addresses. An alias of the
 * container is what gets mapped into the bus's memory or IO space.
 */
import { type AddressSpace, type MemoryContext, MemoryRegion, type MemTxResult } from '@vfu/memory';
import { hex, PciError } from './errors';
import {
  PCI_BASE_ADDRESS_0,
  PCI_BASE_ADDRESS_MEM_PREFETCH,
  PCI_BASE_ADDRESS_MEM_TYPE_64,
  PCI_BASE_ADDRESS_SPACE_IO,
  PCI_ROM_ADDRESS,
  PCI_ROM_SLOT,
} from './regs';

/** What a region decodes: IO ports, 32- or 64-bit memory, or the expansion ROM. */
export type BarKind = 'io' | 'mem32' | 'mem64' | 'rom';

/** How a device registers a BAR. */
export interface BarDefinition {
  kind: 'io' | 'mem32' | 'mem64';
  /** Memory BARs only. */
  prefetchable?: boolean;
  /** What the BAR decodes; its size is the BAR size (a power of two: IO >= 4, memory >= 16). */
  region: MemoryRegion;
}

/** A page-aligned piece of a BAR that is plain RAM, offered to clients as a sparse mmap area. */
export interface BarMmapArea {
  /** Offset in the BAR. */
  offset: bigint;
  size: bigint;
  /** The RAM region and the offset of the area in it. */
  region: MemoryRegion;
  offsetInRegion: bigint;
}

const MMAP_PAGE = 0x1000n;

/** One registered BAR or ROM of a device. */
export class PciBar {
  /** 0-5 for BARs, 6 (`PCI_ROM_SLOT`) for the expansion ROM. */
  readonly index: number;
  readonly kind: BarKind;
  readonly prefetchable: boolean;
  /** Size in bytes (power of two). */
  readonly size: bigint;
  /** The device's region (what the device author registered). */
  readonly region: MemoryRegion;
  /** Container holding `region` and any overlays (MSI-X table, PBA): what the BAR decodes. */
  readonly root: MemoryRegion;
  /** Private AddressSpace over `root`: offsets are BAR-relative. */
  readonly addressSpace: AddressSpace;
  /** What the bus space holds while mapped (an alias of `root`). */
  readonly busAlias: MemoryRegion;
  /** Config-space offset of the BAR register (0x10 + 4*index, or 0x30 for the ROM). */
  readonly configOffset: number;
  /** Low read-only bits of the register (space, type, prefetch). */
  readonly typeBits: number;
  #mappedAt: bigint | undefined;

  /** @internal Created by `PciDevice.registerBar`/`registerRom`. */
  constructor(
    index: number,
    kind: BarKind,
    prefetchable: boolean,
    region: MemoryRegion,
    context: MemoryContext,
    namePrefix: string,
  ) {
    this.index = index;
    this.kind = kind;
    this.prefetchable = prefetchable;
    this.region = region;
    this.size = region.size;
    this.configOffset = index === PCI_ROM_SLOT ? PCI_ROM_ADDRESS : PCI_BASE_ADDRESS_0 + 4 * index;
    this.typeBits =
      kind === 'io'
        ? PCI_BASE_ADDRESS_SPACE_IO
        : kind === 'rom'
          ? 0
          : (kind === 'mem64' ? PCI_BASE_ADDRESS_MEM_TYPE_64 : 0) |
            (prefetchable ? PCI_BASE_ADDRESS_MEM_PREFETCH : 0);
    const label = index === PCI_ROM_SLOT ? 'rom' : `bar${index}`;
    this.root = MemoryRegion.container(`${namePrefix} ${label}`, this.size);
    this.root.addSubregionOverlap(0n, region, 0);
    this.addressSpace = context.createAddressSpace(`${namePrefix} ${label}`, this.root);
    this.busAlias = MemoryRegion.alias(`${namePrefix} ${label} mapping`, this.root, 0n, this.size);
  }

  /** Whether this is an IO BAR (mapped into the bus IO space rather than memory space). */
  get isIo(): boolean {
    return this.kind === 'io';
  }

  /** The bus address the BAR is mapped at, or `undefined` while unmapped. */
  get mappedAddress(): bigint | undefined {
    return this.#mappedAt;
  }

  /** @internal */
  setMappedAddress(address: bigint | undefined): void {
    this.#mappedAt = address;
  }

  /** vfio-style region flags for this BAR: readable, writable (ROM: read-only), mmap-capable. */
  get flags(): { read: boolean; write: boolean; mmap: boolean } {
    return { read: true, write: this.kind !== 'rom', mmap: this.mmapAreas().length > 0 };
  }

  /** Reads BAR-relative bytes through the BAR's dispatcher (sync; async regions give access-error). */
  read(offset: bigint, dest: Uint8Array): MemTxResult {
    this.#check(offset, dest.length);
    return this.addressSpace.read(offset, dest);
  }

  /** Writes BAR-relative bytes through the BAR's dispatcher. */
  write(offset: bigint, data: Uint8Array): MemTxResult {
    this.#check(offset, data.length);
    return this.addressSpace.write(offset, data);
  }

  /** Async read: also serves async-io regions. */
  readAsync(offset: bigint, dest: Uint8Array): Promise<MemTxResult> {
    this.#check(offset, dest.length);
    return this.addressSpace.readAsync(offset, dest);
  }

  /** Async write: also serves async-io regions. */
  writeAsync(offset: bigint, data: Uint8Array): Promise<MemTxResult> {
    this.#check(offset, data.length);
    return this.addressSpace.writeAsync(offset, data);
  }

  /**
   * The page-aligned parts of the BAR that are plain RAM as currently rendered (MSI-X table and
   * PBA pages excluded, since they must trap): what a server can offer as sparse mmap areas.
   */
  mmapAreas(): BarMmapArea[] {
    const out: BarMmapArea[] = [];
    for (const r of this.addressSpace.flatView.ranges) {
      if (r.region.kind !== 'ram' || r.readonly) continue;
      const start = (r.start + MMAP_PAGE - 1n) & ~(MMAP_PAGE - 1n);
      const end = (r.start + r.size) & ~(MMAP_PAGE - 1n);
      if (end <= start) continue;
      out.push({
        offset: start,
        size: end - start,
        region: r.region,
        offsetInRegion: r.offsetInRegion + (start - r.start),
      });
    }
    return out;
  }

  #check(offset: bigint, length: number): void {
    if (offset < 0n || offset + BigInt(length) > this.size) {
      throw new PciError(
        'invalid-bar',
        `out of bounds access to BAR ${this.index}: ${hex(offset)}-${hex(offset + BigInt(length))} (size ${hex(this.size)})`,
        { barIndex: this.index },
      );
    }
  }
}

/** Checks a BAR size for its kind (QEMU asserts a power of two; the spec sets minimums). */
export function checkBarSize(index: number, kind: BarKind, size: bigint): void {
  const min = kind === 'io' ? 4n : kind === 'rom' ? 2048n : 16n;
  const max = kind === 'mem64' ? 1n << 63n : kind === 'io' ? 1n << 31n : 1n << 31n;
  const pow2 = size > 0n && (size & (size - 1n)) === 0n;
  if (!pow2 || size < min || size > max) {
    throw new PciError(
      'invalid-bar',
      `${kind} ${index === PCI_ROM_SLOT ? 'ROM' : `BAR ${index}`} size ${hex(size)} must be a power of two in [${hex(min)}, ${hex(max)}]`,
      { barIndex: index },
    );
  }
}
