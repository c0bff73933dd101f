import type { AddressSpace } from './address-space';
import type { MemoryRegion } from './memory-region';

/** Size in bytes of one access as the bus sees it. */
export type AccessSize = 1 | 2 | 4 | 8;

/**
 * Outcome of an access, as QEMU's `MemTxResult`:
 * - `ok` (`MEMTX_OK`);
 * - `decode-error` (`MEMTX_DECODE_ERROR`): nothing is mapped there (unassigned); reads give 0,
 *   writes are dropped;
 * - `access-error` (`MEMTX_ERROR`/`MEMTX_ACCESS_ERROR`): something is mapped but refused the access
 *   (device `valid` rules, read-only, IOMMU permission, re-entrancy guard, a callback that threw,
 *   an asynchronous region reached by a synchronous access). Reads give 0 for the refused bytes.
 */
export type MemTxResult = 'ok' | 'decode-error' | 'access-error';

/** Rules of what the modelled device accepts (QEMU's `MemoryRegionOps.valid`). */
export interface MmioValidRules {
  minAccessSize?: AccessSize;
  maxAccessSize?: AccessSize;
  unaligned?: boolean;
  accepts?(offset: number, size: AccessSize, isWrite: boolean): boolean;
}

/**
 * Callbacks of an MMIO region (QEMU's `MemoryRegionOps`) that implement accesses of up to 4 bytes.
 * Offsets are relative to the region start. The core enforces `valid`, then splits or widens each
 * access to what `impl` says the callbacks handle, so `read`/`write` only ever see sizes within
 * `impl`; an 8-byte access reaches them as two 4-byte calls, low half first. Callbacks that
 * implement 8-byte accesses themselves are {@link MemoryRegionOps64}.
 */
export interface MemoryRegionOps {
  /** Returns the unsigned value of `size` bytes at `offset`, in the region's endianness. */
  read(offset: number, size: 1 | 2 | 4): number;
  /** Stores the unsigned `value` of `size` bytes at `offset`. */
  write(offset: number, value: number, size: 1 | 2 | 4): void;
  /**
   * What the modelled device accepts; other accesses fail with `access-error` and never reach the
   * callbacks (QEMU's `valid` block). Omitted `maxAccessSize` means every size is accepted;
   * omitted `unaligned` means unaligned accesses are refused, as in QEMU.
   */
  valid?: MmioValidRules;
  /** What the callbacks implement (QEMU's `impl` block): min defaults to 1, max to 4. */
  impl?: { minAccessSize?: 1 | 2 | 4; maxAccessSize?: 1 | 2 | 4; unaligned?: boolean };
  /** Byte order of the values the callbacks exchange; default little. */
  endianness?: 'little' | 'big';
}

/**
 * The arguments of one write to {@link MemoryRegionOps64}: the value is a number for 1, 2 and 4
 * bytes and a bigint for 8, and checking `size` tells TypeScript which (`if (size === 8)`).
 */
export type MmioWrite64 =
  | [offset: number, value: number, size: 1 | 2 | 4]
  | [offset: number, value: bigint, size: 8];

/**
 * Callbacks of an MMIO region that implement 8-byte accesses (QEMU's `MemoryRegionOps` with
 * `impl.max_access_size = 8`). As with {@link MemoryRegionOps}, the core enforces `valid` and
 * splits or widens accesses to the `impl` sizes (QEMU's `access_with_adjusted_size`).
 * Accesses of 1, 2 and 4 bytes exchange numbers; 8-byte accesses exchange bigints.
 */
export interface MemoryRegionOps64 {
  /**
   * Returns the value of `size` bytes at `offset`, in the region's endianness: a bigint for 8
   * bytes, a number (or a bigint) otherwise. As in QEMU, bits above `size` bytes are dropped, so a
   * 64-bit register may return its whole bigint value for a 4-byte read of its low half; a number
   * returned for 8 bytes is taken as an integer (`-1` is all ones).
   */
  read(offset: number, size: AccessSize): number | bigint;
  /** Stores `value` (unsigned; a bigint exactly when `size` is 8) at `offset`. */
  write(...access: MmioWrite64): void;
  /** As {@link MemoryRegionOps.valid}. */
  valid?: MmioValidRules;
  /** What the callbacks implement: `maxAccessSize: 8` is what makes these 64-bit ops; min defaults to 1. */
  impl: { minAccessSize?: AccessSize; maxAccessSize: 8; unaligned?: boolean };
  /** Byte order of the values the callbacks exchange; default little. */
  endianness?: 'little' | 'big';
}

/**
 * Callbacks of a region whose accesses complete asynchronously, such as DMA served by messages to a
 * vfio-user client that passed no file descriptors. Offsets are relative to the region start.
 * A throw or rejection makes the access fail with `access-error`.
 */
export interface AsyncMemoryRegionOps {
  /** Fills `dest` with the bytes at `offset`. `dest` is only valid until the promise settles. */
  read(offset: bigint, dest: Uint8Array): Promise<void>;
  /** Stores `data` at `offset`. `data` is only valid until the promise settles. */
  write(offset: bigint, data: Uint8Array): Promise<void>;
}

/** Access permissions of an IOMMU translation. */
export interface IommuPermissions {
  read: boolean;
  write: boolean;
}

/**
 * One IOMMU translation (QEMU's `IOMMUTLBEntry`): the page containing the translated address is
 * `translatedAddress & ~addressMask` in `target`, `addressMask` being the page size minus one
 * (`0xfffn` for 4 KiB).
 */
export interface IommuTlbEntry {
  target: AddressSpace;
  translatedAddress: bigint;
  addressMask: bigint;
  perm: IommuPermissions;
}

/** Translation callback of an IOMMU region. */
export interface IommuOps {
  /**
   * Translates `address` (relative to the IOMMU region) for an access of the given direction.
   * The result is used for this one access only; callers that cache it must listen for
   * invalidations with `addIommuNotifier`.
   */
  translate(address: bigint, access: 'read' | 'write'): IommuTlbEntry;
}

/** A slice of a region as one AddressSpace sees it (QEMU's `MemoryRegionSection`). */
export interface MemoryRegionSection {
  region: MemoryRegion;
  offsetWithinRegion: bigint;
  offsetWithinAddressSpace: bigint;
  size: bigint;
  readonly: boolean;
}

/**
 * Observer of one AddressSpace's rendered sections (QEMU's `MemoryListener`). Updates arrive as a
 * diff of the old and new flat views: all `regionDel` first (listeners in reverse priority order),
 * then all `regionAdd` (in priority order), between `begin` and `commit`.
 */
export interface MemoryListener {
  /** Lower runs earlier for `regionAdd` and later for `regionDel`; default 0. */
  priority?: number;
  begin?(): void;
  commit?(): void;
  regionAdd?(section: MemoryRegionSection): void;
  regionDel?(section: MemoryRegionSection): void;
}

/** One contiguous piece of a FlatView: `[start, start + size)` maps to `region` at `offsetInRegion`. */
export interface FlatRange {
  readonly start: bigint;
  readonly size: bigint;
  readonly region: MemoryRegion;
  readonly offsetInRegion: bigint;
  /** Writes are refused (ROM, read-only RAM, or a read-only region on the render path). */
  readonly readonly: boolean;
}

/** What `onUnassignedAccess` hooks receive: an access that hit no region. */
export interface UnassignedAccess {
  address: bigint;
  size: number;
  isWrite: boolean;
}

/** Why an access was refused with `access-error`. */
export type AccessFaultReason =
  | 'invalid-access'
  | 'readonly'
  | 'reentrancy'
  | 'callback-failed'
  | 'async-region'
  | 'iommu-permission'
  | 'iommu-translate-failed'
  | 'iommu-depth'
  /** RAM whose backing memory was lost during or before the access (client memory truncated under a mapping). */
  | 'backing-lost';

/** What `onAccessFault` hooks receive: an access that reached a region and was refused. */
export interface AccessFault {
  address: bigint;
  size: number;
  isWrite: boolean;
  region: MemoryRegion;
  reason: AccessFaultReason;
  cause?: unknown;
}
