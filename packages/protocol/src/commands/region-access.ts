import type { DecodeOptions, DescribedField } from '../codec-types';
import { checkXferCount } from '../codec-types';
import { vfioPciRegionName } from '../constants';
import { encodeError, hex, hexBytes, type PayloadReader, type PayloadWriter } from '../wire';

const TWO_POW_64 = 1n << 64n;

/** The 16-byte `vfio_user_region_access` head shared by REGION_READ and REGION_WRITE. */
export interface RegionAccess {
  /** Offset within the region. */
  offset: bigint;
  /** Region index. */
  region: number;
  /** Bytes to access. */
  count: number;
}

/** Decodes the access head and checks `count` against the negotiated maximum. */
export function decodeRegionAccess(r: PayloadReader, options: DecodeOptions): RegionAccess {
  const offset = r.u64(0, 'offset');
  const region = r.u32(8, 'region');
  const count = r.u32(12, 'count');
  checkXferCount(r, count, options, 'count', 12);
  if (offset + BigInt(count) > TWO_POW_64) {
    throw r.error('bad-field', `access ${hex(offset)}+${count} wraps`, 'offset', 0);
  }
  return { offset, region, count };
}

/** Writes the access head. */
export function encodeRegionAccess(w: PayloadWriter, a: RegionAccess): void {
  w.u64(0, a.offset, 'offset');
  w.u32(8, a.region, 'region');
  w.u32(12, a.count, 'count');
}

/** Describer fields of an access head and optional data. */
export function describeRegionAccess(a: RegionAccess, data?: Uint8Array): DescribedField[] {
  const f: DescribedField[] = [
    ['region', `${a.region}(${vfioPciRegionName(a.region)})`],
    ['offset', hex(a.offset)],
    ['count', String(a.count)],
  ];
  if (data !== undefined) f.push(['data', hexBytes(data)]);
  return f;
}

/**
 * Decodes a head followed by exactly `count` data bytes (REGION_READ reply, REGION_WRITE
 * request); `what` names the message in the length error. The data is a view onto the received bytes.
 */
export function decodeRegionAccessWithData(
  r: PayloadReader,
  options: DecodeOptions,
  what: string,
): RegionAccess & { data: Uint8Array } {
  r.need(16, 'the region access struct');
  const a = decodeRegionAccess(r, options);
  r.exact(16 + a.count, `a ${a.count}-byte ${what}`);
  return { offset: a.offset, region: a.region, count: a.count, data: r.view8(16, a.count, 'data') };
}

/** Writes a head and its data; `name` is the command, named in the error when `data` is not `count` bytes. */
export function encodeRegionAccessWithData(
  w: PayloadWriter,
  a: RegionAccess & { data: Uint8Array },
  name: string,
): void {
  if (a.data.length !== a.count) throw encodeError(name, 'data length differs from count', 'data');
  encodeRegionAccess(w, a);
  w.bytesAt(16, a.data);
}
