import type { DecodeOptions, DescribedField } from '../codec-types';
import { checkXferCount } from '../codec-types';
import { vfioPciRegionName } from '../constants';
import { hex, hexBytes, type PayloadReader, type PayloadWriter } from '../wire';

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
