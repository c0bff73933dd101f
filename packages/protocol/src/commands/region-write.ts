import type { CommandCodec } from '../codec-types';
import { Command } from '../command';
import {
  decodeRegionAccess,
  decodeRegionAccessWithData,
  describeRegionAccess,
  encodeRegionAccess,
  encodeRegionAccessWithData,
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
    return decodeRegionAccessWithData(r, options, 'write');
  },
  requestSize: (q) => 16 + q.data.length,
  encodeRequest: (w, q) => encodeRegionAccessWithData(w, q, 'REGION_WRITE'),
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
