import type { CommandCodec, HeaderOnlyReply } from '../codec-types';
import { Command } from '../command';
import { encodeError } from '../wire';
import {
  decodeRegionAccess,
  describeRegionAccess,
  encodeRegionAccess,
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
    r.need(16, 'the region access struct');
    const a = decodeRegionAccess(r, options);
    r.exact(16 + a.count, `a ${a.count}-byte read reply`);
    return { offset: a.offset, region: a.region, count: a.count, data: r.view8(16, a.count, 'data') };
  },
  replySize: (p) => (p.form === 'header-only' ? 0 : 16 + p.data.length),
  encodeReply(w, p) {
    if (p.form === 'header-only') return;
    if (p.data.length !== p.count) throw encodeError('REGION_READ', 'data length differs from count', 'data');
    encodeRegionAccess(w, p);
    w.bytesAt(16, p.data);
  },
  describeReply: (p) =>
    p.form === 'header-only' ? [['payload', 'none (header-only)']] : describeRegionAccess(p, p.data),
};
