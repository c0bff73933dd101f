import { type CommandCodec, checkXferCount, type EmptyPayload, emptyPayload } from '../codec-types';
import { Command } from '../command';
import { encodeError, hexBytes } from '../wire';

/** MIG_DATA_WRITE request: `size` bytes of migration data (a view onto the received bytes). */
export interface MigDataWriteRequest {
  /** libvfio-user requires at least 8 + size (its client sends exactly that). */
  argsz: number;
  size: number;
  data: Uint8Array;
}

/** MIG_DATA_WRITE reply: no payload. */
export type MigDataWriteReply = EmptyPayload;

/** MIG_DATA_WRITE (18). */
export const migDataWriteCodec: CommandCodec<MigDataWriteRequest, MigDataWriteReply> = {
  command: Command.MigDataWrite,
  name: 'MIG_DATA_WRITE',
  decodeRequest(r, fds, options) {
    r.noFds(fds);
    r.need(8, 'the MIG_DATA_WRITE struct');
    const argsz = r.u32(0, 'argsz');
    const size = r.u32(4, 'size');
    checkXferCount(r, size, options, 'size', 4);
    r.argszAtLeast(argsz, 8 + size);
    r.exact(8 + size, `${size} bytes of migration data`);
    return { argsz, size, data: r.view8(8, size, 'data') };
  },
  requestSize: (q) => 8 + q.data.length,
  encodeRequest(w, q) {
    if (q.data.length !== q.size)
      throw encodeError('MIG_DATA_WRITE', 'data length differs from size', 'data');
    w.u32(0, q.argsz, 'argsz');
    w.u32(4, q.size, 'size');
    w.bytesAt(8, q.data);
  },
  describeRequest: (q) => [
    ['argsz', String(q.argsz)],
    ['size', String(q.size)],
    ['data', hexBytes(q.data)],
  ],
  decodeReply: emptyPayload.decode,
  replySize: emptyPayload.size,
  encodeReply: emptyPayload.encode,
  describeReply: emptyPayload.describe,
};
