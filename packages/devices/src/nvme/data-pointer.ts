/**
 * Data pointers of NVMe commands (NVMe 1.4 sections 4.3 and 4.4): PRP entries and lists, and SGLs
 * (data block, bit bucket, segment, last segment), turned into a scatter list of guest bus
 * addresses; then transfers between that list and host buffers or backend I/O vectors. Status
 * codes for malformed pointers are QEMU's (`nvme_map_prp`, `nvme_map_sgl`).
 */

import { NvmeStatus } from './constants';
import type { NvmeDma } from './types';

/** One piece of a scatter list: `length` bytes at `address`, or discarded (SGL bit bucket). */
export interface DmaSegment {
  readonly address: bigint;
  readonly length: number;
  /** A bit bucket: data read from the device is dropped here, nothing is transferred. */
  readonly bitBucket?: boolean;
}

/** A mapped data pointer, or the status explaining why it could not be mapped. */
export type MapResult =
  | { readonly status: 0; readonly segments: DmaSegment[] }
  | { readonly status: number; readonly reason: string };

/** Direction of a transfer, as the device sees it. */
export type TransferDirection = 'to-guest' | 'from-guest';

/** Largest number of SGL descriptors followed for one command (bounds the work a guest causes). */
export const MAX_SGL_DESCRIPTORS = 4096;

/** What mapping needs from the controller. */
export interface DataPointerContext {
  readonly dma: NvmeDma;
  /** Memory page size from CC.MPS, in bytes. */
  readonly pageSize: number;
}

const DNR = NvmeStatus.DNR;

function fail(status: number, reason: string): MapResult {
  return { status, reason };
}

/** Reads guest memory (fast path through `map`); `false` when the range is not accessible. */
export async function dmaReadBytes(dma: NvmeDma, address: bigint, dest: Uint8Array): Promise<boolean> {
  const view = dma.map?.(address, dest.length, false);
  if (view !== undefined && view.length === dest.length) {
    dest.set(view);
    return true;
  }
  return (await dma.read(address, dest)) === 'ok';
}

/** Writes guest memory (fast path through `map`); `false` when the range is not accessible. */
export async function dmaWriteBytes(dma: NvmeDma, address: bigint, data: Uint8Array): Promise<boolean> {
  const view = dma.map?.(address, data.length, true);
  if (view !== undefined && view.length === data.length) {
    view.set(data);
    return true;
  }
  return (await dma.write(address, data)) === 'ok';
}

/**
 * Maps the data pointer of `cmd` (64-byte submission queue entry) for a transfer of `length`
 * bytes. PSDT (CDW0 bits 15:14) selects PRPs or SGLs.
 */
export function mapDataPointer(
  ctx: DataPointerContext,
  cmd: DataView,
  length: number,
  direction: TransferDirection,
): Promise<MapResult> | MapResult {
  const psdt = (cmd.getUint8(1) >> 6) & 3;
  if (length === 0) return { status: 0, segments: [] };
  if (psdt === 0) return mapPrp(ctx, cmd.getBigUint64(24, true), cmd.getBigUint64(32, true), length);
  if (psdt === 3) return fail(NvmeStatus.INVALID_FIELD | DNR, 'PSDT 3 is reserved');
  return mapSgl(ctx, new Uint8Array(cmd.buffer, cmd.byteOffset + 24, 16), length, direction);
}

/** PRP1/PRP2 and PRP lists (NVMe 1.4 section 4.3). */
export function mapPrp(
  ctx: DataPointerContext,
  prp1: bigint,
  prp2: bigint,
  length: number,
): Promise<MapResult> | MapResult {
  const page = ctx.pageSize;
  const pageMask = BigInt(page - 1);
  const first = Math.min(length, page - Number(prp1 & pageMask));
  const segments: DmaSegment[] = [{ address: prp1, length: first }];
  let remaining = length - first;
  if (remaining === 0) return { status: 0, segments };
  if (remaining <= page) {
    if ((prp2 & pageMask) !== 0n) {
      return fail(NvmeStatus.INVALID_PRP_OFFSET | DNR, `PRP2 0x${prp2.toString(16)} is not page aligned`);
    }
    segments.push({ address: prp2, length: remaining });
    return { status: 0, segments };
  }
  // PRP2 points at a PRP list; it may have an offset in its page but must be qword aligned.
  if ((prp2 & 7n) !== 0n) {
    return fail(
      NvmeStatus.INVALID_PRP_OFFSET | DNR,
      `PRP list pointer 0x${prp2.toString(16)} is not qword aligned`,
    );
  }
  return walkPrpList(ctx, prp2, remaining, segments);

  async function walkPrpList(
    c: DataPointerContext,
    listAddress: bigint,
    left: number,
    out: DmaSegment[],
  ): Promise<MapResult> {
    let list = listAddress;
    remaining = left;
    while (remaining > 0) {
      const entriesInPage = (page - Number(list & pageMask)) / 8;
      const pagesLeft = Math.ceil(remaining / page);
      // The last entry of a list page chains to the next list when more pages follow.
      const chained = pagesLeft > entriesInPage;
      const count = chained ? entriesInPage : pagesLeft;
      const raw = new Uint8Array(count * 8);
      if (!(await dmaReadBytes(c.dma, list, raw))) {
        return fail(NvmeStatus.DATA_TRAS_ERROR, `PRP list at 0x${list.toString(16)} is not accessible`);
      }
      const dv = new DataView(raw.buffer);
      const dataEntries = chained ? count - 1 : count;
      for (let i = 0; i < dataEntries; i++) {
        const entry = dv.getBigUint64(i * 8, true);
        if ((entry & pageMask) !== 0n) {
          return fail(
            NvmeStatus.INVALID_PRP_OFFSET | DNR,
            `PRP list entry 0x${entry.toString(16)} is not page aligned`,
          );
        }
        const len = Math.min(remaining, page);
        const last = out[out.length - 1];
        // Physically contiguous pages become one segment: fewer, larger I/O vectors.
        if (last !== undefined && last.address + BigInt(last.length) === entry && !last.bitBucket) {
          out[out.length - 1] = { address: last.address, length: last.length + len };
        } else {
          out.push({ address: entry, length: len });
        }
        remaining -= len;
      }
      if (chained) {
        const next = dv.getBigUint64((count - 1) * 8, true);
        if ((next & 7n) !== 0n) {
          return fail(
            NvmeStatus.INVALID_PRP_OFFSET | DNR,
            `PRP list chain 0x${next.toString(16)} is not qword aligned`,
          );
        }
        list = next;
      }
    }
    return { status: 0, segments: out };
  }
}

const SGL_DATA_BLOCK = 0x0;
const SGL_BIT_BUCKET = 0x1;
const SGL_SEGMENT = 0x2;
const SGL_LAST_SEGMENT = 0x3;

/** SGLs (NVMe 1.4 section 4.4): SGL1 in the command, segments in guest memory. */
export async function mapSgl(
  ctx: DataPointerContext,
  sgl1: Uint8Array,
  length: number,
  direction: TransferDirection,
): Promise<MapResult> {
  const segments: DmaSegment[] = [];
  let mapped = 0;
  let descriptors = 0;
  // Returns a status when `desc` is bad; accumulates data and bit bucket descriptors.
  const addData = (dv: DataView, off: number, type: number): MapResult | undefined => {
    const address = dv.getBigUint64(off, true);
    const len = dv.getUint32(off + 8, true);
    if (type === SGL_BIT_BUCKET) {
      if (direction === 'from-guest') {
        return fail(
          NvmeStatus.SGL_DESCR_TYPE_INVALID | DNR,
          'bit bucket descriptor in a command that writes',
        );
      }
    }
    const take = Math.min(len, length - mapped);
    if (take > 0) {
      segments.push(
        type === SGL_BIT_BUCKET ? { address, length: take, bitBucket: true } : { address, length: take },
      );
      mapped += take;
    }
    return undefined;
  };
  const descType = (byte: number): { type: number; subtype: number } => ({
    type: byte >> 4,
    subtype: byte & 0xf,
  });

  let dv = new DataView(sgl1.buffer, sgl1.byteOffset, 16);
  let { type, subtype } = descType(dv.getUint8(15));
  if (type === SGL_DATA_BLOCK || type === SGL_BIT_BUCKET) {
    if (subtype !== 0)
      return fail(NvmeStatus.SGL_DESCR_TYPE_INVALID | DNR, `SGL descriptor subtype ${subtype}`);
    const bad = addData(dv, 0, type);
    if (bad !== undefined) return bad;
  } else {
    let segAddress = dv.getBigUint64(0, true);
    let segLength = dv.getUint32(8, true);
    let last = false;
    for (;;) {
      if (type !== SGL_SEGMENT && type !== SGL_LAST_SEGMENT) {
        return fail(NvmeStatus.SGL_DESCR_TYPE_INVALID | DNR, `SGL descriptor type ${type}`);
      }
      if (subtype !== 0)
        return fail(NvmeStatus.SGL_DESCR_TYPE_INVALID | DNR, `SGL descriptor subtype ${subtype}`);
      if (last)
        return fail(NvmeStatus.INVALID_SGL_SEG_DESCR | DNR, 'segment descriptor inside a last segment');
      last = type === SGL_LAST_SEGMENT;
      if (segLength === 0 || segLength % 16 !== 0) {
        return fail(
          NvmeStatus.INVALID_SGL_SEG_DESCR | DNR,
          `SGL segment length ${segLength} is not a multiple of 16`,
        );
      }
      const count = segLength / 16;
      descriptors += count;
      if (descriptors > MAX_SGL_DESCRIPTORS) {
        return fail(
          NvmeStatus.INVALID_NUM_SGL_DESCRS | DNR,
          `more than ${MAX_SGL_DESCRIPTORS} SGL descriptors`,
        );
      }
      const raw = new Uint8Array(segLength);
      if (!(await dmaReadBytes(ctx.dma, segAddress, raw))) {
        return fail(
          NvmeStatus.DATA_TRAS_ERROR,
          `SGL segment at 0x${segAddress.toString(16)} is not accessible`,
        );
      }
      dv = new DataView(raw.buffer);
      let next: { address: bigint; length: number; type: number; subtype: number } | undefined;
      for (let i = 0; i < count; i++) {
        const t = descType(dv.getUint8(i * 16 + 15));
        if (t.type === SGL_DATA_BLOCK || t.type === SGL_BIT_BUCKET) {
          if (t.subtype !== 0)
            return fail(NvmeStatus.SGL_DESCR_TYPE_INVALID | DNR, `SGL descriptor subtype ${t.subtype}`);
          const bad = addData(dv, i * 16, t.type);
          if (bad !== undefined) return bad;
        } else if ((t.type === SGL_SEGMENT || t.type === SGL_LAST_SEGMENT) && i === count - 1 && !last) {
          next = { address: dv.getBigUint64(i * 16, true), length: dv.getUint32(i * 16 + 8, true), ...t };
        } else if (t.type === SGL_SEGMENT || t.type === SGL_LAST_SEGMENT) {
          return fail(NvmeStatus.INVALID_SGL_SEG_DESCR | DNR, 'segment descriptor not last in its segment');
        } else {
          return fail(NvmeStatus.SGL_DESCR_TYPE_INVALID | DNR, `SGL descriptor type ${t.type}`);
        }
      }
      if (next === undefined) break;
      segAddress = next.address;
      segLength = next.length;
      type = next.type;
      subtype = next.subtype;
    }
  }
  if (mapped < length) {
    return fail(
      NvmeStatus.DATA_SGL_LEN_INVALID | DNR,
      `SGL describes ${mapped} bytes, the command needs ${length}`,
    );
  }
  return { status: 0, segments };
}

/** Copies `data` (device memory) into the guest buffers of `segments`; `false` on a DMA error. */
export async function copyToGuest(
  dma: NvmeDma,
  segments: readonly DmaSegment[],
  data: Uint8Array,
): Promise<boolean> {
  let off = 0;
  for (const s of segments) {
    if (off >= data.length) break;
    const n = Math.min(s.length, data.length - off);
    if (!s.bitBucket && !(await dmaWriteBytes(dma, s.address, data.subarray(off, off + n)))) return false;
    off += n;
  }
  return true;
}

/** Copies the guest buffers of `segments` into `dest`; `false` on a DMA error. */
export async function copyFromGuest(
  dma: NvmeDma,
  segments: readonly DmaSegment[],
  dest: Uint8Array,
): Promise<boolean> {
  let off = 0;
  for (const s of segments) {
    if (off >= dest.length) break;
    const n = Math.min(s.length, dest.length - off);
    if (!(await dmaReadBytes(dma, s.address, dest.subarray(off, off + n)))) return false;
    off += n;
  }
  return true;
}

/**
 * Direct views of every segment (bit buckets become scratch buffers), for a backend to read into
 * or write from without a copy; `undefined` when some segment is not directly mapped RAM.
 */
export function mapSegments(
  dma: NvmeDma,
  segments: readonly DmaSegment[],
  forWrite: boolean,
): Uint8Array[] | undefined {
  if (dma.map === undefined) return undefined;
  const iov: Uint8Array[] = [];
  for (const s of segments) {
    if (s.bitBucket) {
      iov.push(new Uint8Array(s.length));
      continue;
    }
    let address = s.address;
    let left = s.length;
    while (left > 0) {
      const view = dma.map(address, left, forWrite);
      if (view === undefined || view.length === 0) return undefined;
      iov.push(view);
      address += BigInt(view.length);
      left -= view.length;
    }
  }
  return iov;
}
