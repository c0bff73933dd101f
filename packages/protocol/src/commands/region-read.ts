import type { CommandCodec, HeaderOnlyReply } from '../codec-types';
import { Command } from '../command';
import {
  decodeRegionAccess,
  decodeRegionAccessWithData,
  describeRegionAccess,
  encodeRegionAccess,
  encodeRegionAccessWithData,
  type RegionAccess,
} from './region-access';

/** REGION_READ request: read `count` bytes at `offset` of `region`. */
export type RegionReadRequest = RegionAccess;

/**
 * REGION_READ reply: the access head echoed and the data read, a view onto the received bytes
 * (valid as long as the received chunk is). libvfio-user answers a count-0 read header-only.
 */
export type RegionReadReply = (RegionAccess & { form?: undefined; data: Uint8Array }) | HeaderOnlyReply;

/** REGION_READ (9). */
export const regionReadCodec: CommandCodec<RegionReadRequest, RegionReadReply> = {
  command: Command.RegionRead,
  name: 'REGION_READ',
  decodeRequest(r, fds, options) {
    r.noFds(fds);
    r.exact(16, 'the region access struct');
    return decodeRegionAccess(r, options);
  },
  requestSize: () => 16,
  encodeRequest: encodeRegionAccess,
  describeRequest: (q) => describeRegionAccess(q),
  decodeReply(r, fds, options) {
    r.noFds(fds);
    if (r.length === 0) return { form: 'header-only' };
    return decodeRegionAccessWithData(r, options, 'read reply');
  },
  replySize: (p) => (p.form === 'header-only' ? 0 : 16 + p.data.length),
  encodeReply(w, p) {
    if (p.form === 'header-only') return;
    encodeRegionAccessWithData(w, p, 'REGION_READ');
  },
  describeReply: (p) =>
    p.form === 'header-only' ? [['payload', 'none (header-only)']] : describeRegionAccess(p, p.data),
};
