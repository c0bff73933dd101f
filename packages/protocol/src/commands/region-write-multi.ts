import type { CommandCodec } from '../codec-types';
import { Command } from '../command';
import { vfioPciRegionName } from '../constants';
import { encodeError, hex, hexBytes } from '../wire';

/** Most data bytes one REGION_WRITE_MULTI entry carries. */
export const REGION_WRITE_MULTI_MAX_DATA = 8;

/** One write of REGION_WRITE_MULTI; `data` (≤ 8 bytes) is a view onto the received bytes. */
export interface RegionWriteMultiEntry {
  offset: bigint;
  region: number;
  data: Uint8Array;
}

/**
 * REGION_WRITE_MULTI request: coalesced small writes. Only sent to a server that advertised
 * `write_multiple`. Unused bytes of each 8-byte data slot are not kept (encoded as zeros).
 */
export interface RegionWriteMultiRequest {
  writes: RegionWriteMultiEntry[];
}

/** REGION_WRITE_MULTI reply: number of writes completed. */
export interface RegionWriteMultiReply {
  wrCnt: bigint;
}

/** REGION_WRITE_MULTI (15). libvfio-user does not implement it. */
export const regionWriteMultiCodec: CommandCodec<RegionWriteMultiRequest, RegionWriteMultiReply> = {
  command: Command.RegionWriteMulti,
  name: 'REGION_WRITE_MULTI',
  decodeRequest(r, fds) {
    r.noFds(fds);
    r.need(8, 'wr_cnt');
    const wrCnt = r.u64(0, 'wr_cnt');
    // Checked against the payload before anything is allocated for the entries.
    if (wrCnt === 0n || wrCnt * 24n !== BigInt(r.length - 8)) {
      throw r.error('bad-field', `wr_cnt ${wrCnt} but ${r.length - 8} bytes of 24-byte entries`, 'wr_cnt', 0);
    }
    const writes: RegionWriteMultiEntry[] = [];
    for (let at = 8; at < r.length; at += 24) {
      const count = r.u32(at + 12, 'count');
      if (count > REGION_WRITE_MULTI_MAX_DATA) {
        throw r.error('bad-field', `entry count ${count} exceeds 8`, 'count', at + 12);
      }
      writes.push({
        offset: r.u64(at, 'offset'),
        region: r.u32(at + 8, 'region'),
        data: r.view8(at + 16, count, 'data'),
      });
    }
    return { writes };
  },
  requestSize: (q) => 8 + 24 * q.writes.length,
  encodeRequest(w, q) {
    if (q.writes.length === 0) throw encodeError('REGION_WRITE_MULTI', 'no writes', 'writes');
    w.u64(0, BigInt(q.writes.length), 'wr_cnt');
    q.writes.forEach((e, i) => {
      const at = 8 + 24 * i;
      if (e.data.length > REGION_WRITE_MULTI_MAX_DATA) {
        throw encodeError('REGION_WRITE_MULTI', `entry ${i} has ${e.data.length} data bytes`, 'data');
      }
      w.u64(at, e.offset, 'offset');
      w.u32(at + 8, e.region, 'region');
      w.u32(at + 12, e.data.length, 'count');
      w.zero(at + 16, 8);
      w.bytesAt(at + 16, e.data);
    });
  },
  describeRequest: (q) => [
    ['wr_cnt', String(q.writes.length)],
    [
      'writes',
      q.writes
        .map((e) => `${e.region}(${vfioPciRegionName(e.region)})@${hex(e.offset)}=${hexBytes(e.data)}`)
        .join('; '),
    ],
  ],
  decodeReply(r, fds) {
    r.noFds(fds);
    r.exact(8, 'wr_cnt');
    return { wrCnt: r.u64(0, 'wr_cnt') };
  },
  replySize: () => 8,
  encodeReply(w, p) {
    w.u64(0, p.wrCnt, 'wr_cnt');
  },
  describeReply: (p) => [['wr_cnt', String(p.wrCnt)]],
};
