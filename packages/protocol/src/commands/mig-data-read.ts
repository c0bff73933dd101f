import { type CommandCodec, checkXferCount } from '../codec-types';
import { Command } from '../command';
import { decodeMigDataRequest, describeMigData, encodeMigData } from './mig-data';

/** MIG_DATA_READ request: read up to `size` bytes of migration data. */
export interface MigDataReadRequest {
  /** Largest reply payload accepted; at least 8 + size. */
  argsz: number;
  size: number;
}

/**
 * MIG_DATA_READ reply. `data` holds the `size` valid bytes (a view). libvfio-user pads a short
 * read to the requested length; that padding is kept in `trailing` so re-encoding is exact.
 */
export interface MigDataReadReply {
  argsz: number;
  size: number;
  data: Uint8Array;
  trailing?: Uint8Array;
}

/** MIG_DATA_READ (17). */
export const migDataReadCodec: CommandCodec<MigDataReadRequest, MigDataReadReply> = {
  command: Command.MigDataRead,
  name: 'MIG_DATA_READ',
  decodeRequest(r, fds, options) {
    r.noFds(fds);
    r.exact(8, 'the MIG_DATA_READ struct');
    return decodeMigDataRequest(r, options);
  },
  requestSize: () => 8,
  encodeRequest: (w, q) => encodeMigData(w, q, 'MIG_DATA_READ'),
  describeRequest: (q) => describeMigData(q),
  decodeReply(r, fds, options) {
    r.noFds(fds);
    r.need(8, 'the MIG_DATA_READ struct');
    const argsz = r.u32(0, 'argsz');
    r.argszAtLeast(argsz, 8);
    const size = r.u32(4, 'size');
    checkXferCount(r, size, options, 'size', 4);
    r.need(8 + size, `${size} bytes of migration data`);
    const data = r.view8(8, size, 'data');
    if (r.length === 8 + size) return { argsz, size, data };
    return { argsz, size, data, trailing: r.view8(8 + size, r.length - 8 - size, 'padding') };
  },
  replySize: (p) => 8 + p.data.length + (p.trailing?.length ?? 0),
  encodeReply(w, p) {
    encodeMigData(w, p, 'MIG_DATA_READ', p.data);
    if (p.trailing) w.bytesAt(8 + p.size, p.trailing);
  },
  describeReply(p) {
    const f = describeMigData(p, p.data);
    if (p.trailing) f.push(['padding', `${p.trailing.length} bytes`]);
    return f;
  },
};
