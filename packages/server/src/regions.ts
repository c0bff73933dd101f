/**
 * The device's vfio regions (BAR0-5, ROM, config space, VGA) as DEVICE_GET_REGION_INFO describes
 * them and REGION_READ/WRITE reach them. Offsets are region-relative, as the spec defines them:
 * BAR accesses go through the BAR's own AddressSpace (device region plus MSI-X overlays) whatever
 * address the guest programmed; config accesses go through the PCI model, so BAR programming
 * moves the BAR mappings in the endpoint's bus spaces.
 */

import { hex } from '@vfu/errors';
import type { MemoryRegion, MemTxResult } from '@vfu/memory';
import { isPciError, type PciBar, type PciDevice } from '@vfu/pci';
import {
  type DeviceGetRegionInfoReply,
  Errno,
  RegionCapId,
  type RegionInfoCapability,
  RegionInfoFlags,
  StructSize,
  VFIO_PCI_NUM_REGIONS,
  VfioPciRegion,
  vfioPciRegionName,
} from '@vfu/protocol';
import type { FdLike } from '@vfu/sys';
import { reject } from './errors';

/**
 * Where a RAM region's bytes live in a file the client can mmap: the fd and the file offset of the
 * region's first byte. Given by whoever allocated the region from shared memory (a memfd).
 */
export interface RegionFdBacking {
  fd: FdLike;
  offset: bigint;
  /**
   * This process's own mapping of that memory (`@vfu/sys` MappedRegion, guarded by default). A
   * client handed the fd could truncate the file under it; the guard absorbs the fault, and the
   * endpoint then disconnects every client it handed this fd to. The RAM region itself should be
   * made with `backingLost: mapping.poisonFlag` so that accesses fail from then on.
   */
  mapping?: { onPoisoned(listener: () => void): () => void };
}

/** Looks up the shared-memory backing of a RAM region, if it has one. */
export type RegionFdResolver = (region: MemoryRegion) => RegionFdBacking | undefined;

/** What a vfio region index designates on the device. */
type RegionTarget =
  | { kind: 'config'; size: bigint }
  | { kind: 'bar'; bar: PciBar; size: bigint }
  | { kind: 'none'; size: 0n };

/** Resolves a region index (EINVAL beyond the PCI regions). */
export function regionTarget(device: PciDevice, index: number): RegionTarget {
  if (!Number.isInteger(index) || index < 0 || index >= VFIO_PCI_NUM_REGIONS) {
    throw reject(`region index ${index} is not one of the ${VFIO_PCI_NUM_REGIONS} PCI regions`);
  }
  if (index === VfioPciRegion.Config) return { kind: 'config', size: BigInt(device.configSize) };
  if (index <= VfioPciRegion.Rom) {
    const bar = device.bar(index);
    if (bar !== undefined) return { kind: 'bar', bar, size: bar.size };
  }
  return { kind: 'none', size: 0n };
}

/** A reply to DEVICE_GET_REGION_INFO and the fd to attach (only when the caps fit in `argsz`). */
export function regionInfo(
  device: PciDevice,
  index: number,
  argsz: number,
  resolveFd: RegionFdResolver | undefined,
): { body: DeviceGetRegionInfoReply; fds: FdLike[]; watch?: NonNullable<RegionFdBacking['mapping']> } {
  const target = regionTarget(device, index);
  const base = { index, size: target.size, offset: 0n, capabilities: [] as RegionInfoCapability[] };
  if (target.kind === 'none') return { body: { ...base, argsz: StructSize.RegionInfo, flags: 0 }, fds: [] };
  if (target.kind === 'config') {
    // Never mmappable: every config access must reach the PCI model.
    return {
      body: { ...base, argsz: StructSize.RegionInfo, flags: RegionInfoFlags.Read | RegionInfoFlags.Write },
      fds: [],
    };
  }
  const bar = target.bar;
  let flags = RegionInfoFlags.Read | (bar.kind === 'rom' ? 0 : RegionInfoFlags.Write);
  const sparse = resolveFd === undefined ? undefined : sparseAreas(bar, resolveFd);
  if (sparse === undefined) return { body: { ...base, argsz: StructSize.RegionInfo, flags }, fds: [] };
  flags |= RegionInfoFlags.Mmap;
  const cap: RegionInfoCapability = { id: RegionCapId.SparseMmap, version: 1, areas: sparse.areas };
  const needed =
    StructSize.RegionInfo + StructSize.SparseMmapCap + StructSize.SparseMmapArea * sparse.areas.length;
  if (argsz < needed) {
    // libvfio-user's answer: MMAP without the caps or the fd; the client asks again with `needed`.
    return { body: { ...base, argsz: needed, flags }, fds: [] };
  }
  return {
    body: { ...base, argsz: needed, flags, offset: sparse.offset, capabilities: [cap] },
    fds: [sparse.fd],
    ...(sparse.mapping === undefined ? {} : { watch: sparse.mapping }),
  };
}

/**
 * The BAR's mmappable RAM pieces that live in one shared file, as sparse areas relative to a
 * common file offset. Pieces in another file (or with no file) stay trapped.
 */
function sparseAreas(
  bar: PciBar,
  resolveFd: RegionFdResolver,
):
  | {
      fd: FdLike;
      offset: bigint;
      mapping?: RegionFdBacking['mapping'];
      areas: { offset: bigint; size: bigint }[];
    }
  | undefined {
  let chosen: { fd: FdLike; offset: bigint; mapping?: RegionFdBacking['mapping'] } | undefined;
  const areas: { offset: bigint; size: bigint }[] = [];
  for (const a of bar.mmapAreas()) {
    const backing = resolveFd(a.region);
    if (backing === undefined) continue;
    const fileOffset = backing.offset + a.offsetInRegion;
    // Region offset such that region offset + area offset = the area's file offset.
    const base = fileOffset - a.offset;
    if (base < 0n) continue;
    if (chosen === undefined) {
      chosen = { fd: backing.fd, offset: base };
      if (backing.mapping !== undefined) chosen.mapping = backing.mapping;
    } else if (chosen.fd !== backing.fd || chosen.offset !== base) continue;
    areas.push({ offset: a.offset, size: a.size });
  }
  return chosen === undefined ? undefined : { ...chosen, areas };
}

/** Checks `[offset, offset + count)` lies inside the region (libvfio-user: EINVAL otherwise). */
export function checkAccess(target: RegionTarget, index: number, offset: bigint, count: number): void {
  if (offset + BigInt(count) > target.size) {
    throw reject(
      `out of bounds access to region ${index}(${vfioPciRegionName(index)}): ${hex(offset)}-${hex(
        offset + BigInt(count),
      )} (size ${hex(target.size)})`,
    );
  }
}

/** Reads `dest.length` bytes at `offset` of a config region (synchronous). */
export function configRead(device: PciDevice, offset: bigint, dest: Uint8Array): void {
  modelCall(() => device.configReadBytes(Number(offset), dest));
}

/** Writes config bytes through the PCI model (masks, BAR mapping updates, capabilities...). */
export function configWrite(device: PciDevice, offset: bigint, data: Uint8Array): void {
  modelCall(() => device.configWriteBytes(Number(offset), data));
}

/**
 * Turns the outcome of a BAR access into a reply: an access the device refused (size, alignment,
 * a failing callback) is EIO; a hole in the BAR (nothing decodes there) behaves as on a PCI bus,
 * reads as zeros and drops writes, and is reported to `guestError` rather than failed.
 */
export function checkTx(result: MemTxResult, what: string, guestError: (message: string) => void): void {
  if (result === 'ok') return;
  if (result === 'decode-error') {
    guestError(`${what}: nothing decodes there (reads as 0, writes dropped)`);
    return;
  }
  throw reject(`${what}: the device refused the access`, Errno.EIO);
}

function modelCall(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (isPciError(e)) throw reject(e.message, Errno.EINVAL);
    throw e;
  }
}
