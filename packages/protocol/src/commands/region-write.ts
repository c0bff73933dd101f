import type { CommandCodec } from '../codec-types';
import { Command } from '../command';
import { encodeError } from '../wire';
import {
  decodeRegionAccess,
  describeRegionAccess,
  encodeRegionAccess,
  type RegionAccess,
} from './region-access';

/** REGION_WRITE request: the access head and `count` bytes, a view onto the received bytes. */
export interface RegionWriteRequest extends RegionAccess {
  data: Uint8Array;
}

/** REGION_WRITE reply: the access head, `count` = bytes written. */
export type RegionWriteReply = RegionAccess;

/** REGION_WRITE (10). */
export const regionWriteCodec: CommandCodec<RegionWriteRequest, RegionWriteReply> = {
  command: Command.RegionWrite,
  name: 'REGION_WRITE',
  decodeRequest(r, fds, options) {
    r.noFds(fds);
    r.need(16, 'the region access struct');
    const a = decodeRegionAccess(r, options);
    r.exact(16 + a.count, `a ${a.count}-byte write`);
    return { offset: a.offset, region: a.region, count: a.count, data: r.view8(16, a.count, 'data') };
  },
  requestSize: (q) => 16 + q.data.length,
  encodeRequest(w, q) {
    if (q.data.length !== q.count)
      throw encodeError('REGION_WRITE', 'data length differs from count', 'data');
    encodeRegionAccess(w, q);
    w.bytesAt(16, q.data);
  },
  describeRequest: (q) => describeRegionAccess(q, q.data),
  decodeReply(r, fds, options) {
    r.noFds(fds);
    r.exact(16, 'the region access struct');
    return decodeRegionAccess(r, options);
  },
  replySize: () => 16,
  encodeReply: encodeRegionAccess,
  describeReply: (p) => describeRegionAccess(p),
};
