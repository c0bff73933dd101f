import {
  PCI_BASE_ADDRESS_IO_MASK,
  PCI_BASE_ADDRESS_MEM_MASK,
  PCI_BASE_ADDRESS_MEM_PREFETCH,
  PCI_BASE_ADDRESS_MEM_TYPE_64,
  PCI_BASE_ADDRESS_MEM_TYPE_MASK,
  PCI_BASE_ADDRESS_SPACE_IO,
  PCI_CACHE_LINE_SIZE,
  PCI_CAP_ID_MSI,
  PCI_CAP_ID_MSIX,
  PCI_CAP_LIST_NEXT,
  PCI_CAPABILITY_LIST,
  PCI_CFG_SPACE_SIZE,
  PCI_CLASS_DEVICE,
  PCI_CLASS_PROG,
  PCI_COMMAND,
  PCI_DEVICE_ID,
  PCI_HEADER_TYPE,
  PCI_HEADER_TYPE_MULTI_FUNCTION,
  PCI_INTERRUPT_LINE,
  PCI_INTERRUPT_PIN,
  PCI_LATENCY_TIMER,
  PCI_MSI_DATA_32,
  PCI_MSI_DATA_64,
  PCI_MSI_FLAGS,
  PCI_MSI_FLAGS_64BIT,
  PCI_MSI_FLAGS_ENABLE,
  PCI_MSI_FLAGS_MASKBIT,
  PCI_MSI_FLAGS_QMASK,
  PCI_MSI_FLAGS_QSIZE,
  PCI_MSI_MASK_32,
  PCI_MSI_MASK_64,
  PCI_MSIX_FLAGS,
  PCI_MSIX_FLAGS_ENABLE,
  PCI_MSIX_FLAGS_MASKALL,
  PCI_MSIX_FLAGS_QSIZE,
  PCI_MSIX_PBA,
  PCI_MSIX_TABLE,
  PCI_MSIX_TABLE_BIR,
  PCI_REVISION_ID,
  PCI_ROM_ADDRESS,
  PCI_STATUS,
  PCI_STATUS_CAP_LIST,
  PCI_STD_HEADER_SIZEOF,
  PCI_SUBSYSTEM_ID,
  PCI_SUBSYSTEM_VENDOR_ID,
  PCI_VENDOR_ID,
} from '@vfu/pci-regs';
import { ClientError } from './errors';

/** The base class byte (`PCI_CLASS_DEVICE` is the 16-bit base:sub word at 0x0a). */
const PCI_CLASS_BASE = PCI_CLASS_DEVICE + 1;
/** Low bits of a capability pointer are reserved (Linux masks with ~3). */
const PCI_CAP_POINTER_MASK = 0xfc;
/** A capability id of 0xff: the pointer led into absent config space. */
const PCI_CAP_ID_ABSENT = 0xff;
/** Most capabilities followed, as Linux's PCI_FIND_CAP_TTL: a looped list cannot spin. */
const PCI_FIND_CAP_TTL = 48;
/** Most extended capabilities: one per dword of extended config space, as Linux bounds it. */
const PCI_EXT_CAP_TTL = (4096 - PCI_CFG_SPACE_SIZE) / 4;
/** Linux's PCI_EXT_CAP_ID / PCI_EXT_CAP_VER / PCI_EXT_CAP_NEXT of an extended capability header. */
const extCapId = (header: number): number => header & 0xffff;
const extCapVersion = (header: number): number => (header >>> 16) & 0xf;
const extCapNext = (header: number): number => (header >>> 20) & 0xffc;
/** An IO BAR that decodes only 16 address bits reads back zeros in its upper half. */
const IO_BAR_UPPER_HALF = 0xffff_0000;

/** Little-endian reads of a config-space snapshot; bytes past its end read as all-ones, as absent config space does. */
export function cfg8(config: Uint8Array, offset: number): number {
  return offset < config.length ? (config[offset] as number) : 0xff;
}
/** See {@link cfg8}. */
export function cfg16(config: Uint8Array, offset: number): number {
  return cfg8(config, offset) | (cfg8(config, offset + 1) << 8);
}
/** See {@link cfg8}. */
export function cfg32(config: Uint8Array, offset: number): number {
  return (cfg16(config, offset) | (cfg16(config, offset + 2) << 16)) >>> 0;
}

/** The type-0 header fields of a config-space snapshot. */
export interface PciConfigHeader {
  vendorId: number;
  deviceId: number;
  command: number;
  status: number;
  revision: number;
  progIf: number;
  subclass: number;
  baseClass: number;
  /** 24-bit class code: base << 16 | sub << 8 | prog-if. */
  classCode: number;
  cacheLineSize: number;
  latencyTimer: number;
  /** Bits 6:0 of the header type (0 = endpoint). */
  headerType: number;
  multiFunction: boolean;
  subsystemVendorId: number;
  subsystemId: number;
  romAddress: number;
  capabilitiesPointer: number;
  interruptLine: number;
  /** 0 = none, 1..4 = INTA..INTD. */
  interruptPin: number;
}

/** Parses the standard header of `config` (at least 64 bytes). */
export function parseConfigHeader(config: Uint8Array): PciConfigHeader {
  if (config.length < PCI_STD_HEADER_SIZEOF) {
    throw new ClientError(
      'invalid-argument',
      `config space snapshot of ${config.length} bytes; the header needs ${PCI_STD_HEADER_SIZEOF}`,
    );
  }
  const headerType = cfg8(config, PCI_HEADER_TYPE);
  const progIf = cfg8(config, PCI_CLASS_PROG);
  const subclass = cfg8(config, PCI_CLASS_DEVICE);
  const baseClass = cfg8(config, PCI_CLASS_BASE);
  return {
    vendorId: cfg16(config, PCI_VENDOR_ID),
    deviceId: cfg16(config, PCI_DEVICE_ID),
    command: cfg16(config, PCI_COMMAND),
    status: cfg16(config, PCI_STATUS),
    revision: cfg8(config, PCI_REVISION_ID),
    progIf,
    subclass,
    baseClass,
    classCode: (baseClass << 16) | (subclass << 8) | progIf,
    cacheLineSize: cfg8(config, PCI_CACHE_LINE_SIZE),
    latencyTimer: cfg8(config, PCI_LATENCY_TIMER),
    headerType: headerType & ~PCI_HEADER_TYPE_MULTI_FUNCTION & 0xff,
    multiFunction: (headerType & PCI_HEADER_TYPE_MULTI_FUNCTION) !== 0,
    subsystemVendorId: cfg16(config, PCI_SUBSYSTEM_VENDOR_ID),
    subsystemId: cfg16(config, PCI_SUBSYSTEM_ID),
    romAddress: cfg32(config, PCI_ROM_ADDRESS),
    capabilitiesPointer: cfg8(config, PCI_CAPABILITY_LIST),
    interruptLine: cfg8(config, PCI_INTERRUPT_LINE),
    interruptPin: cfg8(config, PCI_INTERRUPT_PIN),
  };
}

/** One entry of a capability list. */
export interface PciCapability {
  /** Capability id (PCI_CAP_ID_* or, for `extended`, PCI_EXT_CAP_ID_*). */
  id: number;
  offset: number;
  extended: boolean;
  /** Version nibble of an extended capability (0 for standard ones). */
  version: number;
  name: string;
}

const CAP_NAMES: Record<number, string> = {
  1: 'Power Management',
  2: 'AGP',
  3: 'Vital Product Data',
  4: 'Slot Identification',
  5: 'MSI',
  6: 'CompactPCI HotSwap',
  7: 'PCI-X',
  8: 'HyperTransport',
  9: 'Vendor Specific Information',
  10: 'Debug port',
  11: 'CompactPCI central resource control',
  12: 'Hot-plug capable',
  13: 'Subsystem',
  14: 'AGP3',
  15: 'Secure device',
  16: 'Express',
  17: 'MSI-X',
  18: 'SATA HBA',
  19: 'PCI Advanced Features',
  20: 'Enhanced Allocation',
  21: 'Flattening Portal Bridge',
};

const EXT_CAP_NAMES: Record<number, string> = {
  1: 'Advanced Error Reporting',
  2: 'Virtual Channel',
  3: 'Device Serial Number',
  4: 'Power Budgeting',
  11: 'Vendor Specific Information',
  13: 'Access Control Services',
  14: 'Alternative Routing-ID Interpretation (ARI)',
  16: 'Single Root I/O Virtualization (SR-IOV)',
  21: 'Resizable BAR',
  23: 'Transaction Processing Hints',
  24: 'Latency Tolerance Reporting',
  25: 'Secondary PCI Express',
  30: 'L1 PM Substates',
};

/** Name of a standard capability id as lspci prints it. */
export function capabilityName(id: number, extended = false): string {
  return (extended ? EXT_CAP_NAMES[id] : CAP_NAMES[id]) ?? `Capability ID 0x${id.toString(16)}`;
}

/**
 * Walks the capability list (when STATUS.CAP_LIST is set) and, for config spaces larger than
 * 256 bytes, the extended list at 0x100. Loops and pointers into the header end the walk, as
 * they do for lspci; a device cannot make this spin.
 */
export function walkCapabilities(config: Uint8Array): PciCapability[] {
  const caps: PciCapability[] = [];
  if ((cfg16(config, PCI_STATUS) & PCI_STATUS_CAP_LIST) !== 0) {
    const seen = new Set<number>();
    let ptr = cfg8(config, PCI_CAPABILITY_LIST) & PCI_CAP_POINTER_MASK;
    while (
      ptr >= PCI_STD_HEADER_SIZEOF &&
      ptr < PCI_CFG_SPACE_SIZE &&
      !seen.has(ptr) &&
      caps.length < PCI_FIND_CAP_TTL
    ) {
      seen.add(ptr);
      const id = cfg8(config, ptr);
      if (id === PCI_CAP_ID_ABSENT) break;
      caps.push({ id, offset: ptr, extended: false, version: 0, name: capabilityName(id) });
      ptr = cfg8(config, ptr + PCI_CAP_LIST_NEXT) & PCI_CAP_POINTER_MASK;
    }
  }
  if (config.length > PCI_CFG_SPACE_SIZE) {
    const seen = new Set<number>();
    let ptr = PCI_CFG_SPACE_SIZE;
    while (
      ptr >= PCI_CFG_SPACE_SIZE &&
      ptr + 4 <= config.length &&
      !seen.has(ptr) &&
      caps.length < PCI_FIND_CAP_TTL + PCI_EXT_CAP_TTL
    ) {
      seen.add(ptr);
      const header = cfg32(config, ptr);
      if (header === 0 || header === 0xffff_ffff) break;
      const id = extCapId(header);
      caps.push({
        id,
        offset: ptr,
        extended: true,
        version: extCapVersion(header),
        name: capabilityName(id, true),
      });
      ptr = extCapNext(header);
    }
  }
  return caps;
}

/** The first standard capability with `id`, or undefined. */
export function findCapability(config: Uint8Array, id: number): PciCapability | undefined {
  return walkCapabilities(config).find((c) => !c.extended && c.id === id);
}

/** Kind of a BAR. */
export type BarKind = 'io' | 'mem32' | 'mem64';

/** A BAR as sizing found it. */
export interface PciBar {
  /** BAR number 0..5 (a 64-bit BAR uses `index` and `index + 1`). */
  index: number;
  kind: BarKind;
  prefetchable: boolean;
  /** Bytes (a power of two); 0 = not implemented. */
  size: bigint;
  /** Address the BAR holds (as read before sizing). */
  address: bigint;
}

/**
 * Decodes one BAR from its value before sizing (`original`) and after writing all-ones
 * (`sized`); for a 64-bit memory BAR also the upper dword's two values. Returns size 0 for an
 * unimplemented BAR (sized value 0 or only type bits).
 */
export function decodeBar(
  index: number,
  original: number,
  sized: number,
  upperOriginal = 0,
  upperSized = 0,
): PciBar {
  if ((original & PCI_BASE_ADDRESS_SPACE_IO) !== 0) {
    // IO BARs decode 16 or 32 address bits; the upper half of an all-zero upper mask is ignored.
    let mask = sized & PCI_BASE_ADDRESS_IO_MASK;
    if (mask !== 0 && (mask & IO_BAR_UPPER_HALF) === 0) mask |= IO_BAR_UPPER_HALF;
    const size = mask === 0 ? 0n : BigInt((~mask + 1) >>> 0);
    return {
      index,
      kind: 'io',
      prefetchable: false,
      size,
      address: BigInt((original & PCI_BASE_ADDRESS_IO_MASK) >>> 0),
    };
  }
  const is64 = (original & PCI_BASE_ADDRESS_MEM_TYPE_MASK) === PCI_BASE_ADDRESS_MEM_TYPE_64;
  const prefetchable = (original & PCI_BASE_ADDRESS_MEM_PREFETCH) !== 0;
  const lowMask = BigInt((sized & PCI_BASE_ADDRESS_MEM_MASK) >>> 0);
  const address =
    BigInt((original & PCI_BASE_ADDRESS_MEM_MASK) >>> 0) | (is64 ? BigInt(upperOriginal >>> 0) << 32n : 0n);
  if (is64) {
    const mask = lowMask | (BigInt(upperSized >>> 0) << 32n);
    const size = mask === 0n ? 0n : (~mask + 1n) & 0xffff_ffff_ffff_ffffn;
    return { index, kind: 'mem64', prefetchable, size, address };
  }
  const size = lowMask === 0n ? 0n : (~lowMask + 1n) & 0xffff_ffffn;
  return { index, kind: 'mem32', prefetchable, size, address };
}

/** An address window for {@link planBarAssignment}. */
export interface AddressWindow {
  base: bigint;
  size: bigint;
}

/** Where BARs go: 32-bit memory below 4 GiB, 64-bit memory above, IO ports. */
export interface BarWindows {
  mmio32: AddressWindow;
  mmio64: AddressWindow;
  io: AddressWindow;
}

/** Windows like a PC's: 32-bit MMIO at 0xe0000000 (256 MiB), 64-bit at 64 GiB (64 GiB), IO at 0xc000 (16 KiB). */
export const DEFAULT_BAR_WINDOWS: BarWindows = Object.freeze({
  mmio32: { base: 0xe000_0000n, size: 0x1000_0000n },
  mmio64: { base: 0x10_0000_0000n, size: 0x10_0000_0000n },
  io: { base: 0xc000n, size: 0x4000n },
});

/** A BAR with the address chosen for it. */
export interface BarAssignment {
  bar: PciBar;
  address: bigint;
}

/**
 * Chooses an address for every implemented BAR: each aligned to its size, largest first per
 * window (so alignment wastes least), 64-bit BARs above 4 GiB and 32-bit ones below, IO BARs in
 * the IO window. Throws `out-of-range` when a window is too small.
 */
export function planBarAssignment(
  bars: readonly PciBar[],
  windows: BarWindows = DEFAULT_BAR_WINDOWS,
): BarAssignment[] {
  const out: BarAssignment[] = [];
  const groups: [AddressWindow, PciBar[], string][] = [
    [windows.mmio32, bars.filter((b) => b.kind === 'mem32' && b.size > 0n), '32-bit memory'],
    [windows.mmio64, bars.filter((b) => b.kind === 'mem64' && b.size > 0n), '64-bit memory'],
    [windows.io, bars.filter((b) => b.kind === 'io' && b.size > 0n), 'IO'],
  ];
  for (const [window, group, what] of groups) {
    let next = window.base;
    for (const bar of [...group].sort((a, b) =>
      a.size > b.size ? -1 : a.size < b.size ? 1 : a.index - b.index,
    )) {
      const address = (next + bar.size - 1n) & ~(bar.size - 1n);
      if (address + bar.size > window.base + window.size) {
        throw new ClientError(
          'out-of-range',
          `BAR${bar.index} (${what}, size 0x${bar.size.toString(16)}) does not fit the window 0x${window.base.toString(16)}+0x${window.size.toString(16)}`,
        );
      }
      out.push({ bar, address });
      next = address + bar.size;
    }
  }
  return out.sort((a, b) => a.bar.index - b.bar.index);
}

/** The MSI capability's layout. */
export interface MsiCapability {
  offset: number;
  enabled: boolean;
  /** Vectors the device can request (Multiple Message Capable, decoded). */
  maxVectors: number;
  /** Vectors enabled (Multiple Message Enable, decoded). */
  enabledVectors: number;
  is64Bit: boolean;
  perVectorMasking: boolean;
  /** Offset (in config space) of the message data register. */
  dataOffset: number;
  /** Offset of the mask register, when per-vector masking is there. */
  maskOffset: number | undefined;
}

/** Parses the MSI capability at `offset`. */
export function parseMsiCapability(config: Uint8Array, offset: number): MsiCapability {
  const flags = cfg16(config, offset + PCI_MSI_FLAGS);
  const is64Bit = (flags & PCI_MSI_FLAGS_64BIT) !== 0;
  const perVectorMasking = (flags & PCI_MSI_FLAGS_MASKBIT) !== 0;
  return {
    offset,
    enabled: (flags & PCI_MSI_FLAGS_ENABLE) !== 0,
    maxVectors: 1 << Math.min(5, (flags & PCI_MSI_FLAGS_QMASK) >> 1),
    enabledVectors: 1 << Math.min(5, (flags & PCI_MSI_FLAGS_QSIZE) >> 4),
    is64Bit,
    perVectorMasking,
    dataOffset: offset + (is64Bit ? PCI_MSI_DATA_64 : PCI_MSI_DATA_32),
    maskOffset: perVectorMasking ? offset + (is64Bit ? PCI_MSI_MASK_64 : PCI_MSI_MASK_32) : undefined,
  };
}

/** The MSI-X capability's layout. */
export interface MsixCapability {
  offset: number;
  enabled: boolean;
  functionMasked: boolean;
  tableSize: number;
  tableBar: number;
  tableOffset: number;
  pbaBar: number;
  pbaOffset: number;
}

/** Parses the MSI-X capability at `offset`. */
export function parseMsixCapability(config: Uint8Array, offset: number): MsixCapability {
  const flags = cfg16(config, offset + PCI_MSIX_FLAGS);
  const table = cfg32(config, offset + PCI_MSIX_TABLE);
  const pba = cfg32(config, offset + PCI_MSIX_PBA);
  return {
    offset,
    enabled: (flags & PCI_MSIX_FLAGS_ENABLE) !== 0,
    functionMasked: (flags & PCI_MSIX_FLAGS_MASKALL) !== 0,
    tableSize: (flags & PCI_MSIX_FLAGS_QSIZE) + 1,
    tableBar: table & PCI_MSIX_TABLE_BIR,
    tableOffset: (table & ~PCI_MSIX_TABLE_BIR) >>> 0,
    pbaBar: pba & PCI_MSIX_TABLE_BIR,
    pbaOffset: (pba & ~PCI_MSIX_TABLE_BIR) >>> 0,
  };
}

/** The MSI and MSI-X capabilities of `config`, if present. */
export function interruptCapabilities(config: Uint8Array): { msi?: MsiCapability; msix?: MsixCapability } {
  const out: { msi?: MsiCapability; msix?: MsixCapability } = {};
  const msi = findCapability(config, PCI_CAP_ID_MSI);
  if (msi) out.msi = parseMsiCapability(config, msi.offset);
  const msix = findCapability(config, PCI_CAP_ID_MSIX);
  if (msix) out.msix = parseMsixCapability(config, msix.offset);
  return out;
}
