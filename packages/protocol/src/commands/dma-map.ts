import { type CommandCodec, type EmptyPayload, emptyPayload } from '../codec-types';
import { Command } from '../command';
import { DmaMapFlags } from '../constants';
import { flagNames, hex } from '../wire';

/** DMA_MAP request: client memory the device may access; one fd attached when mappable. */
export interface DmaMapRequest {
  /** Size of this struct (32). */
  argsz: number;
  /** {@link DmaMapFlags}: READ, WRITE, and libvfio-user's MMAP / FILE_IO. */
  flags: number;
  /** Offset into the attached fd where the range starts (0 without fd). */
  offset: bigint;
  /** DMA address (IOVA) of the range. */
  addr: bigint;
  size: bigint;
}

/** DMA_MAP reply: no payload. */
export type DmaMapReply = EmptyPayload;

const KNOWN = DmaMapFlags.Read | DmaMapFlags.Write | DmaMapFlags.Mmap | DmaMapFlags.FileIo;
const FLAG_NAMES = [
  [DmaMapFlags.Read, 'READ'],
  [DmaMapFlags.Write, 'WRITE'],
  [DmaMapFlags.Mmap, 'MMAP'],
  [DmaMapFlags.FileIo, 'FILE_IO'],
] as const;

/** DMA_MAP (2). */
export const dmaMapCodec: CommandCodec<DmaMapRequest, DmaMapReply> = {
  command: Command.DmaMap,
  name: 'DMA_MAP',
  decodeRequest(r, fds) {
    r.exact(32, 'the DMA_MAP struct');
    const argsz = r.u32(0, 'argsz');
    r.argszAtLeast(argsz, 32);
    const flags = r.u32(4, 'flags');
    if ((flags & ~KNOWN) !== 0) throw r.error('bad-field', `unknown flags ${hex(flags)}`, 'flags', 4);
    if (fds.length > 1) throw r.error('bad-fds', `${fds.length} fds attached, at most 1`, 'fds');
    // libvfio-user: MMAP and FILE_IO both describe how to use the fd, so they need one.
    if ((flags & (DmaMapFlags.Mmap | DmaMapFlags.FileIo)) !== 0 && fds.length === 0) {
      throw r.error('bad-fds', 'MMAP/FILE_IO flag without an fd', 'flags', 4);
    }
    if ((flags & DmaMapFlags.Mmap) !== 0 && (flags & DmaMapFlags.FileIo) !== 0) {
      throw r.error('bad-field', 'MMAP and FILE_IO are exclusive', 'flags', 4);
    }
    const offset = r.u64(8, 'offset');
    const addr = r.u64(16, 'addr');
    const size = r.u64(24, 'size');
    if (size === 0n) throw r.error('bad-field', 'size is 0', 'size', 24);
    if (addr + size > 1n << 64n)
      throw r.error('bad-field', `range ${hex(addr)}+${hex(size)} wraps`, 'size', 24);
    return { argsz, flags, offset, addr, size };
  },
  requestSize: () => 32,
  encodeRequest(w, q) {
    w.u32(0, q.argsz, 'argsz');
    w.u32(4, q.flags, 'flags');
    w.u64(8, q.offset, 'offset');
    w.u64(16, q.addr, 'addr');
    w.u64(24, q.size, 'size');
  },
  describeRequest: (q) => [
    ['argsz', String(q.argsz)],
    ['flags', flagNames(q.flags, FLAG_NAMES)],
    ['offset', hex(q.offset)],
    ['addr', hex(q.addr)],
    ['size', hex(q.size)],
  ],
  decodeReply: emptyPayload.decode,
  replySize: emptyPayload.size,
  encodeReply: emptyPayload.encode,
  describeReply: emptyPayload.describe,
};
