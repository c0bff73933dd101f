import type { DecodeOptions, DescribedField } from '../codec-types';
import { checkXferCount } from '../codec-types';
import { hex, hexBytes, type PayloadReader, type PayloadWriter } from '../wire';

const TWO_POW_64 = 1n << 64n;

/** The 16-byte `vfio_user_dma_region_access` head of DMA_READ and DMA_WRITE (spec layout). */
export interface DmaAccess {
  /** Client DMA address. */
  address: bigint;
  /** Bytes; u64 on the wire. */
  count: bigint;
}

/** Decodes the head and checks `count` against the negotiated maximum. */
export function decodeDmaAccess(r: PayloadReader, options: DecodeOptions): DmaAccess {
  const address = r.u64(0, 'address');
  const count = r.u64(8, 'count');
  checkXferCount(r, count, options, 'count', 8);
  if (address + count > TWO_POW_64)
    throw r.error('bad-field', `access ${hex(address)}+${count} wraps`, 'count', 8);
  return { address, count };
}

/** Writes the head. */
export function encodeDmaAccess(w: PayloadWriter, a: DmaAccess): void {
  w.u64(0, a.address, 'address');
  w.u64(8, a.count, 'count');
}

/** Describer fields of a head and optional data. */
export function describeDmaAccess(a: DmaAccess, data?: Uint8Array): DescribedField[] {
  const f: DescribedField[] = [
    ['address', hex(a.address)],
    ['count', String(a.count)],
  ];
  if (data !== undefined) f.push(['data', hexBytes(data)]);
  return f;
}

/** Requires the payload after the head to hold exactly `count` bytes and returns a view of them. */
export function dmaData(r: PayloadReader, a: DmaAccess): Uint8Array {
  if (BigInt(r.length - 16) !== a.count) {
    throw r.error(
      r.length - 16 < a.count ? 'short-payload' : 'trailing-bytes',
      `count ${a.count} but ${r.length - 16} data bytes`,
      'count',
      8,
    );
  }
  return r.view8(16, r.length - 16, 'data');
}
