import type { CommandCodec, DescribedField, HeaderOnlyReply } from '../codec-types';
import { Command } from '../command';
import { DmaUnmapFlags } from '../constants';
import { encodeError, flagNames, hex, hexBytes, type PayloadReader, type PayloadWriter } from '../wire';

/** The legacy dirty-bitmap header of DMA_UNMAP with GET_DIRTY_BITMAP. */
export interface DmaUnmapBitmapHeader {
  pgsize: bigint;
  /** Bitmap size in bytes. */
  size: bigint;
}

/**
 * DMA_UNMAP request. `flags` is 0, ALL (addr and size 0: unmap everything) or the legacy
 * GET_DIRTY_BITMAP, which appends `bitmap`.
 */
export interface DmaUnmapRequest {
  /** Largest reply payload the client accepts. */
  argsz: number;
  flags: number;
  addr: bigint;
  size: bigint;
  bitmap?: DmaUnmapBitmapHeader;
}

/**
 * DMA_UNMAP reply: the request struct echoed (plus the bitmap for GET_DIRTY_BITMAP), or
 * header-only as libvfio-user sends it for a device without DMA.
 */
export type DmaUnmapReply =
  | {
      form?: undefined;
      argsz: number;
      flags: number;
      addr: bigint;
      size: bigint;
      /** `data` is a view onto the received bytes. */
      bitmap?: DmaUnmapBitmapHeader & { data: Uint8Array };
    }
  | HeaderOnlyReply;

const FLAG_NAMES = [
  [DmaUnmapFlags.GetDirtyBitmap, 'GET_DIRTY_BITMAP'],
  [DmaUnmapFlags.All, 'ALL'],
] as const;

function decodeHead(r: PayloadReader) {
  const argsz = r.u32(0, 'argsz');
  const flags = r.u32(4, 'flags');
  // libvfio-user accepts exactly 0, GET_DIRTY_BITMAP or ALL.
  if (flags !== 0 && flags !== DmaUnmapFlags.GetDirtyBitmap && flags !== DmaUnmapFlags.All) {
    throw r.error('bad-field', `flags ${hex(flags)} is not 0, GET_DIRTY_BITMAP or ALL`, 'flags', 4);
  }
  const addr = r.u64(8, 'addr');
  const size = r.u64(16, 'size');
  if (flags === DmaUnmapFlags.All && (addr !== 0n || size !== 0n)) {
    throw r.error('bad-field', 'ALL with a non-zero addr or size', 'addr', 8);
  }
  if (flags !== DmaUnmapFlags.All && addr + size > 1n << 64n) {
    throw r.error('bad-field', `range ${hex(addr)}+${hex(size)} wraps`, 'size', 16);
  }
  return { argsz, flags, addr, size };
}

/** Writes the head and, when given, the dirty-bitmap header after it. */
function encodeHead(
  w: PayloadWriter,
  q: { argsz: number; flags: number; addr: bigint; size: bigint; bitmap?: DmaUnmapBitmapHeader | undefined },
): void {
  w.u32(0, q.argsz, 'argsz');
  w.u32(4, q.flags, 'flags');
  w.u64(8, q.addr, 'addr');
  w.u64(16, q.size, 'size');
  if (q.bitmap !== undefined) {
    w.u64(24, q.bitmap.pgsize, 'bitmap.pgsize');
    w.u64(32, q.bitmap.size, 'bitmap.size');
  }
}

function describeHead(q: { argsz: number; flags: number; addr: bigint; size: bigint }): DescribedField[] {
  return [
    ['argsz', String(q.argsz)],
    ['flags', flagNames(q.flags, FLAG_NAMES)],
    ['addr', hex(q.addr)],
    ['size', hex(q.size)],
  ];
}

/** DMA_UNMAP (3). */
export const dmaUnmapCodec: CommandCodec<DmaUnmapRequest, DmaUnmapReply> = {
  command: Command.DmaUnmap,
  name: 'DMA_UNMAP',
  decodeRequest(r, fds) {
    r.noFds(fds);
    r.need(24, 'the DMA_UNMAP struct');
    const head = decodeHead(r);
    if (head.flags === DmaUnmapFlags.GetDirtyBitmap) {
      r.exact(40, 'DMA_UNMAP with a bitmap header');
      const pgsize = r.u64(24, 'bitmap.pgsize');
      const size = r.u64(32, 'bitmap.size');
      if (pgsize === 0n || (pgsize & (pgsize - 1n)) !== 0n) {
        throw r.error('bad-field', `bitmap.pgsize ${pgsize} is not a power of two`, 'bitmap.pgsize', 24);
      }
      if (BigInt(head.argsz) < 40n + size) {
        throw r.error('bad-argsz', `argsz ${head.argsz} cannot hold the ${size}-byte bitmap`, 'argsz', 0);
      }
      return { ...head, bitmap: { pgsize, size } };
    }
    r.exact(24, 'the DMA_UNMAP struct');
    r.argszAtLeast(head.argsz, 24);
    return head;
  },
  requestSize: (q) => (q.bitmap === undefined ? 24 : 40),
  encodeRequest(w, q) {
    if ((q.bitmap !== undefined) !== (q.flags === DmaUnmapFlags.GetDirtyBitmap)) {
      throw encodeError('DMA_UNMAP', 'bitmap must be given exactly with GET_DIRTY_BITMAP', 'bitmap');
    }
    encodeHead(w, q);
  },
  describeRequest(q) {
    const f = describeHead(q);
    if (q.bitmap) f.push(['bitmap', `pgsize=${hex(q.bitmap.pgsize)} size=${q.bitmap.size}`]);
    return f;
  },
  decodeReply(r, fds) {
    r.noFds(fds);
    if (r.length === 0) return { form: 'header-only' };
    r.need(24, 'the DMA_UNMAP struct');
    const head = decodeHead(r);
    if (head.flags === DmaUnmapFlags.GetDirtyBitmap) {
      r.need(40, 'DMA_UNMAP with a bitmap header');
      const pgsize = r.u64(24, 'bitmap.pgsize');
      const size = r.u64(32, 'bitmap.size');
      if (BigInt(r.length - 40) !== size) {
        throw r.error(
          'bad-field',
          `bitmap.size ${size} but ${r.length - 40} bitmap bytes`,
          'bitmap.size',
          32,
        );
      }
      return { ...head, bitmap: { pgsize, size, data: r.view8(40, r.length - 40, 'bitmap') } };
    }
    r.exact(24, 'the DMA_UNMAP struct');
    return head;
  },
  replySize: (p) => (p.form === 'header-only' ? 0 : p.bitmap === undefined ? 24 : 40 + p.bitmap.data.length),
  encodeReply(w, p) {
    if (p.form === 'header-only') return;
    if (p.bitmap !== undefined && BigInt(p.bitmap.data.length) !== p.bitmap.size) {
      throw encodeError('DMA_UNMAP', 'bitmap.size differs from the bitmap data length', 'bitmap.size');
    }
    encodeHead(w, p);
    if (p.bitmap !== undefined) w.bytesAt(40, p.bitmap.data);
  },
  describeReply(p) {
    if (p.form === 'header-only') return [['payload', 'none (header-only)']];
    const f = describeHead(p);
    if (p.bitmap)
      f.push([
        'bitmap',
        `pgsize=${hex(p.bitmap.pgsize)} size=${p.bitmap.size} data=${hexBytes(p.bitmap.data)}`,
      ]);
    return f;
  },
};
