import type { CommandCodec, DescribedField } from '../codec-types';
import { Command } from '../command';
import { IoFdType, vfioPciRegionName } from '../constants';
import { encodeError, hex } from '../wire';
import { decodeIndexRequest, encodeIndexRequest } from './index-request';

/** DEVICE_GET_REGION_IO_FDS request. */
export interface DeviceGetRegionIoFdsRequest {
  /** Largest reply the client accepts. */
  argsz: number;
  /** Region index. */
  index: number;
}

/**
 * One io-fd sub-region. `fdIndex` indexes the reply's fds. `datamatch` is the ioeventfd
 * datamatch or the ioregionfd `user_data` (same slot). The shadow fields exist only in
 * libvfio-user's 48-byte entry layout.
 */
export interface IoFdSubRegion {
  offset: bigint;
  /** Access size; 0 = any. */
  size: bigint;
  fdIndex: number;
  /** {@link IoFdType}. */
  type: number;
  /** KVM_IOEVENTFD_FLAG_* or KVM_IOREGION_* bits. */
  flags: number;
  datamatch: bigint;
  /** 48-byte layout: index of the shadow memory fd (type 2). */
  shadowMemFdIndex?: number;
  /** 48-byte layout: offset into the shadow memory fd. */
  shadowOffset?: bigint;
}

/**
 * DEVICE_GET_REGION_IO_FDS reply. Entries are 40 bytes in the spec and 48 in libvfio-user
 * (which adds shadow ioeventfds); both are decoded, the stride being `(payload − 16) / count`.
 * A reply with `count` > 0 and no entries is truncated (`argsz` too small).
 */
export interface DeviceGetRegionIoFdsReply {
  argsz: number;
  index: number;
  /** Number of sub-regions the region has. */
  count: number;
  subRegions: IoFdSubRegion[];
  /** Entry layout; the encoder picks 48 when any entry has shadow fields, else 40. */
  entrySize?: 40 | 48;
}

function entrySize(p: DeviceGetRegionIoFdsReply): 40 | 48 {
  return p.entrySize ?? (p.subRegions.some((s) => s.shadowMemFdIndex !== undefined) ? 48 : 40);
}

/** DEVICE_GET_REGION_IO_FDS (6). */
export const deviceGetRegionIoFdsCodec: CommandCodec<DeviceGetRegionIoFdsRequest, DeviceGetRegionIoFdsReply> =
  {
    command: Command.DeviceGetRegionIoFds,
    name: 'DEVICE_GET_REGION_IO_FDS',
    decodeRequest: (r, fds) => decodeIndexRequest(r, fds, 'the DEVICE_GET_REGION_IO_FDS struct'),
    requestSize: () => 16,
    encodeRequest: encodeIndexRequest,
    describeRequest: (q) => [
      ['argsz', String(q.argsz)],
      ['index', `${q.index}(${vfioPciRegionName(q.index)})`],
    ],
    decodeReply(r, fds) {
      r.need(16, 'the DEVICE_GET_REGION_IO_FDS struct');
      const argsz = r.u32(0, 'argsz');
      r.argszAtLeast(argsz, 16);
      r.zero(4, 4, 'flags');
      const index = r.u32(8, 'index');
      const count = r.u32(12, 'count');
      if (argsz < r.length)
        throw r.error('bad-argsz', `argsz ${argsz} is below the ${r.length}-byte reply`, 'argsz', 0);
      const subRegions: IoFdSubRegion[] = [];
      if (r.length === 16) {
        // Truncated or empty: libvfio-user attaches no fds then.
        r.noFds(fds);
        return { argsz, index, count, subRegions };
      }
      const body = r.length - 16;
      const stride = count === 0 ? 0 : body / count;
      if (stride !== 40 && stride !== 48) {
        throw r.error(
          'bad-field',
          `${body} entry bytes do not hold ${count} entries of 40 or 48 bytes`,
          'count',
          12,
        );
      }
      if (fds.length === 0) throw r.error('bad-fds', 'sub-regions without any fd', 'fds');
      const checkFd = (i: number, field: string, at: number) => {
        if (i >= fds.length)
          throw r.error('bad-fds', `${field} ${i} but ${fds.length} fd(s) attached`, field, at);
      };
      for (let i = 0; i < count; i++) {
        const at = 16 + i * stride;
        const fdIndex = r.u32(at + 16, 'fd_index');
        checkFd(fdIndex, 'fd_index', at + 16);
        const type = r.u32(at + 20, 'type');
        const s: IoFdSubRegion = {
          offset: r.u64(at, 'offset'),
          size: r.u64(at + 8, 'size'),
          fdIndex,
          type,
          flags: r.u32(at + 24, 'flags'),
          datamatch: 0n,
        };
        if (stride === 40) {
          if (type !== IoFdType.Ioeventfd && type !== IoFdType.Ioregionfd) {
            throw r.error(
              'bad-field',
              `sub-region type ${type} is not ioeventfd or ioregionfd`,
              'type',
              at + 20,
            );
          }
          r.zero(at + 28, 4, 'padding');
          s.datamatch = r.u64(at + 32, 'datamatch');
        } else {
          if (type > IoFdType.IoeventfdShadow) {
            throw r.error('bad-field', `sub-region type ${type} is unknown`, 'type', at + 20);
          }
          s.shadowMemFdIndex = r.u32(at + 28, 'shadow_mem_fd_index');
          if (type === IoFdType.IoeventfdShadow) checkFd(s.shadowMemFdIndex, 'shadow_mem_fd_index', at + 28);
          s.shadowOffset = r.u64(at + 32, 'shadow_offset');
          s.datamatch = r.u64(at + 40, 'datamatch');
        }
        subRegions.push(s);
      }
      return { argsz, index, count, subRegions, entrySize: stride };
    },
    replySize: (p) => 16 + (p.subRegions.length === 0 ? 0 : p.subRegions.length * entrySize(p)),
    encodeReply(w, p) {
      const stride = entrySize(p);
      if (p.subRegions.length !== 0 && p.subRegions.length !== p.count) {
        throw encodeError(
          'DEVICE_GET_REGION_IO_FDS',
          'count differs from the number of sub-regions',
          'count',
        );
      }
      w.u32(0, p.argsz, 'argsz');
      w.u32(4, 0, 'flags');
      w.u32(8, p.index, 'index');
      w.u32(12, p.count, 'count');
      p.subRegions.forEach((s, i) => {
        const at = 16 + i * stride;
        w.u64(at, s.offset, 'offset');
        w.u64(at + 8, s.size, 'size');
        w.u32(at + 16, s.fdIndex, 'fd_index');
        w.u32(at + 20, s.type, 'type');
        w.u32(at + 24, s.flags, 'flags');
        if (stride === 40) {
          w.u32(at + 28, 0, 'padding');
          w.u64(at + 32, s.datamatch, 'datamatch');
        } else {
          w.u32(at + 28, s.shadowMemFdIndex ?? 0, 'shadow_mem_fd_index');
          w.u64(at + 32, s.shadowOffset ?? 0n, 'shadow_offset');
          w.u64(at + 40, s.datamatch, 'datamatch');
        }
      });
    },
    describeReply(p) {
      const f: DescribedField[] = [
        ['argsz', String(p.argsz)],
        ['index', `${p.index}(${vfioPciRegionName(p.index)})`],
        ['count', String(p.count)],
      ];
      if (p.subRegions.length > 0) {
        const names = ['ioeventfd', 'ioregionfd', 'ioeventfd-shadow'];
        f.push([
          'sub_regions',
          p.subRegions
            .map(
              (s) =>
                `${names[s.type] ?? s.type} ${hex(s.offset)}+${hex(s.size)} fd#${s.fdIndex} flags=${hex(s.flags)} datamatch=${hex(s.datamatch)}` +
                (s.type === IoFdType.IoeventfdShadow
                  ? ` shadow=fd#${s.shadowMemFdIndex}@${hex(s.shadowOffset ?? 0n)}`
                  : ''),
            )
            .join('; '),
        ]);
      }
      return f;
    },
  };
