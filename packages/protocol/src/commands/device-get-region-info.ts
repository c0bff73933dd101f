import type { CommandCodec, DescribedField } from '../codec-types';
import { Command } from '../command';
import { RegionCapId, RegionInfoFlags, vfioPciRegionName } from '../constants';
import { encodeError, flagNames, hex, hexBytes, type PayloadWriter } from '../wire';

/** DEVICE_GET_REGION_INFO request. */
export interface DeviceGetRegionInfoRequest {
  /** Largest reply the client accepts; larger than 32 to receive capabilities. */
  argsz: number;
  /** Region index ({@link VfioPciRegion}). */
  index: number;
  /**
   * Bytes after the 32-byte struct. libvfio-user's sample client pads the request to `argsz`
   * with zeros; kept so a re-encode is byte-identical.
   */
  trailing?: Uint8Array;
}

/** One mmappable area of a SPARSE_MMAP capability; offsets are relative to the region. */
export interface SparseMmapArea {
  offset: bigint;
  size: bigint;
}

/** A region-info capability. Unknown ids are kept raw. */
export type RegionInfoCapability =
  | { id: typeof RegionCapId.SparseMmap; version: number; areas: SparseMmapArea[] }
  | { id: typeof RegionCapId.Type; version: number; type: number; subtype: number }
  | { id: number; version: number; data: Uint8Array };

/**
 * DEVICE_GET_REGION_INFO reply. `capabilities` is the parsed chain; the encoder lays it out
 * contiguously from offset 32 and sets CAPS and `cap_offset` itself. A reply whose `argsz` is
 * larger than its payload is truncated: the client must ask again with that `argsz`.
 */
export interface DeviceGetRegionInfoReply {
  /** Size of the complete reply (32 + capabilities). */
  argsz: number;
  /** {@link RegionInfoFlags}. */
  flags: number;
  index: number;
  /** Region size in bytes; 0 = region not implemented. */
  size: bigint;
  /** mmap() offset on the attached fd; base of sparse-area offsets. */
  offset: bigint;
  capabilities: RegionInfoCapability[];
}

const KNOWN = RegionInfoFlags.Read | RegionInfoFlags.Write | RegionInfoFlags.Mmap | RegionInfoFlags.Caps;
const FLAG_NAMES = [
  [RegionInfoFlags.Read, 'READ'],
  [RegionInfoFlags.Write, 'WRITE'],
  [RegionInfoFlags.Mmap, 'MMAP'],
  [RegionInfoFlags.Caps, 'CAPS'],
] as const;

function capSize(c: RegionInfoCapability): number {
  if (c.id === RegionCapId.SparseMmap && 'areas' in c) return 16 + 16 * c.areas.length;
  if (c.id === RegionCapId.Type && 'subtype' in c) return 16;
  if ('data' in c) return 8 + c.data.length;
  throw encodeError('DEVICE_GET_REGION_INFO', `capability ${c.id} has no body`, 'capabilities');
}

function writeCap(w: PayloadWriter, at: number, c: RegionInfoCapability, next: number): void {
  w.u16(at, c.id, 'cap.id');
  w.u16(at + 2, c.version, 'cap.version');
  w.u32(at + 4, next, 'cap.next');
  if ('areas' in c) {
    w.u32(at + 8, c.areas.length, 'nr_areas');
    w.u32(at + 12, 0, 'reserved');
    c.areas.forEach((a, i) => {
      w.u64(at + 16 + 16 * i, a.offset, 'area.offset');
      w.u64(at + 24 + 16 * i, a.size, 'area.size');
    });
  } else if ('subtype' in c) {
    w.u32(at + 8, c.type, 'type');
    w.u32(at + 12, c.subtype, 'subtype');
  } else {
    w.bytesAt(at + 8, c.data);
  }
}

function describeCap(c: RegionInfoCapability): string {
  if ('areas' in c) {
    return `SPARSE_MMAP v${c.version} [${c.areas.map((a) => `${hex(a.offset)}+${hex(a.size)}`).join(', ')}]`;
  }
  if ('subtype' in c) return `TYPE v${c.version} type=${hex(c.type)} subtype=${hex(c.subtype)}`;
  return `cap ${c.id} v${c.version} data=${hexBytes(c.data)}`;
}

/** DEVICE_GET_REGION_INFO (5). */
export const deviceGetRegionInfoCodec: CommandCodec<DeviceGetRegionInfoRequest, DeviceGetRegionInfoReply> = {
  command: Command.DeviceGetRegionInfo,
  name: 'DEVICE_GET_REGION_INFO',
  decodeRequest(r, fds) {
    r.noFds(fds);
    r.need(32, 'the DEVICE_GET_REGION_INFO struct');
    const argsz = r.u32(0, 'argsz');
    r.argszAtLeast(argsz, 32);
    r.zero(4, 4, 'flags');
    r.zero(12, 4, 'cap_offset');
    r.zero(16, 8, 'size');
    r.zero(24, 8, 'offset');
    const index = r.u32(8, 'index');
    if (r.length === 32) return { argsz, index };
    return { argsz, index, trailing: r.view8(32, r.length - 32, 'padding') };
  },
  requestSize: (q) => 32 + (q.trailing?.length ?? 0),
  encodeRequest(w, q) {
    w.u32(0, q.argsz, 'argsz');
    w.u32(4, 0, 'flags');
    w.u32(8, q.index, 'index');
    w.zero(12, 20);
    if (q.trailing) w.bytesAt(32, q.trailing);
  },
  describeRequest(q) {
    const f: DescribedField[] = [
      ['argsz', String(q.argsz)],
      ['index', `${q.index}(${vfioPciRegionName(q.index)})`],
    ];
    if (q.trailing) f.push(['padding', `${q.trailing.length} bytes`]);
    return f;
  },
  decodeReply(r, fds) {
    r.need(32, 'the DEVICE_GET_REGION_INFO struct');
    const argsz = r.u32(0, 'argsz');
    r.argszAtLeast(argsz, 32);
    const flags = r.u32(4, 'flags');
    if ((flags & ~KNOWN) !== 0) throw r.error('bad-field', `unknown flags ${hex(flags)}`, 'flags', 4);
    const index = r.u32(8, 'index');
    const capOffset = r.u32(12, 'cap_offset');
    const size = r.u64(16, 'size');
    const offset = r.u64(24, 'offset');
    if (argsz < r.length)
      throw r.error('bad-argsz', `argsz ${argsz} is below the ${r.length}-byte reply`, 'argsz', 0);
    if (fds.length > 1) throw r.error('bad-fds', `${fds.length} fds attached, at most 1`, 'fds');
    if (fds.length === 1 && (flags & RegionInfoFlags.Mmap) === 0) {
      throw r.error('bad-fds', 'an fd is attached but MMAP is not set', 'fds');
    }
    const capabilities: RegionInfoCapability[] = [];
    if ((flags & RegionInfoFlags.Caps) === 0) {
      if (capOffset !== 0)
        throw r.error('bad-field', `cap_offset ${capOffset} without CAPS`, 'cap_offset', 12);
      if (r.length !== 32)
        throw r.error('trailing-bytes', `${r.length - 32} bytes after the struct without CAPS`);
      return { argsz, flags, index, size, offset, capabilities };
    }
    // Capability offsets count from the start of the payload; requiring them to increase
    // rules out loops and overlapping capabilities.
    let at = capOffset;
    let min = 32;
    while (at !== 0) {
      if (at < min)
        throw r.error('bad-field', `capability at ${at} overlaps what precedes it`, 'cap.next', at);
      r.need(at + 8, 'a capability header');
      const id = r.u16(at, 'cap.id');
      const version = r.u16(at + 2, 'cap.version');
      const next = r.u32(at + 4, 'cap.next');
      const end = next === 0 ? r.length : next;
      if (end < at + 8)
        throw r.error('bad-field', `capability next ${next} points backwards`, 'cap.next', at + 4);
      r.need(end, 'the capability chain');
      if (id === RegionCapId.SparseMmap) {
        const nr = r.u32(at + 8, 'nr_areas');
        if (at + 16 + 16 * nr > end) {
          throw r.error('bad-field', `nr_areas ${nr} does not fit the capability`, 'nr_areas', at + 8);
        }
        const areas: SparseMmapArea[] = [];
        for (let i = 0; i < nr; i++) {
          const o = r.u64(at + 16 + 16 * i, 'area.offset');
          const s = r.u64(at + 24 + 16 * i, 'area.size');
          if (o + s > size) {
            throw r.error(
              'bad-field',
              `sparse area ${hex(o)}+${hex(s)} is outside the ${hex(size)}-byte region`,
              'area',
              at + 16 + 16 * i,
            );
          }
          areas.push({ offset: o, size: s });
        }
        if (next !== 0 && at + 16 + 16 * nr !== end) {
          throw r.error('bad-field', 'gap after the sparse-mmap capability', 'cap.next', at + 4);
        }
        capabilities.push({ id: RegionCapId.SparseMmap, version, areas });
        min = at + 16 + 16 * nr;
      } else if (id === RegionCapId.Type) {
        r.need(at + 16, 'the TYPE capability');
        capabilities.push({
          id: RegionCapId.Type,
          version,
          type: r.u32(at + 8, 'type'),
          subtype: r.u32(at + 12, 'subtype'),
        });
        min = at + 16;
      } else {
        capabilities.push({ id, version, data: r.view8(at + 8, end - at - 8, 'cap.data') });
        min = end;
      }
      at = next;
    }
    if (min !== r.length)
      throw r.error('trailing-bytes', `${r.length - min} bytes after the capability chain`);
    // CAPS with cap_offset 0 is an empty chain; the flag goes, as the encoder derives it.
    const capsFlag = capabilities.length > 0 ? flags : flags & ~RegionInfoFlags.Caps;
    return { argsz, flags: capsFlag, index, size, offset, capabilities };
  },
  replySize: (p) => p.capabilities.reduce((n, c) => n + capSize(c), 32),
  encodeReply(w, p) {
    const hasCaps = p.capabilities.length > 0;
    w.u32(0, p.argsz, 'argsz');
    w.u32(4, (p.flags & ~RegionInfoFlags.Caps) | (hasCaps ? RegionInfoFlags.Caps : 0), 'flags');
    w.u32(8, p.index, 'index');
    w.u32(12, hasCaps ? 32 : 0, 'cap_offset');
    w.u64(16, p.size, 'size');
    w.u64(24, p.offset, 'offset');
    let at = 32;
    p.capabilities.forEach((c, i) => {
      const end = at + capSize(c);
      writeCap(w, at, c, i + 1 < p.capabilities.length ? end : 0);
      at = end;
    });
  },
  describeReply(p) {
    const f: DescribedField[] = [
      ['argsz', String(p.argsz)],
      ['flags', flagNames(p.flags, FLAG_NAMES)],
      ['index', `${p.index}(${vfioPciRegionName(p.index)})`],
      ['size', hex(p.size)],
      ['offset', hex(p.offset)],
    ];
    if (p.capabilities.length > 0) f.push(['caps', p.capabilities.map(describeCap).join('; ')]);
    return f;
  },
};
