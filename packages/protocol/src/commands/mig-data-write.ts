import { type CommandCodec, type EmptyPayload, emptyPayload } from '../codec-types';
import { Command } from '../command';
import { decodeMigDataRequest, describeMigData, encodeMigData } from './mig-data';

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
    const { argsz, size } = decodeMigDataRequest(r, options);
    r.exact(8 + size, `${size} bytes of migration data`);
    return { argsz, size, data: r.view8(8, size, 'data') };
  },
  requestSize: (q) => 8 + q.data.length,
  encodeRequest: (w, q) => encodeMigData(w, q, 'MIG_DATA_WRITE', q.data),
  describeRequest: (q) => describeMigData(q, q.data),
  decodeReply: emptyPayload.decode,
  replySize: emptyPayload.size,
  encodeReply: emptyPayload.encode,
  describeReply: emptyPayload.describe,
};
