import type { DecodeOptions, DescribedField } from '../codec-types';
import { checkXferCount } from '../codec-types';
import { encodeError, hex, hexBytes, type PayloadReader, type PayloadWriter } from '../wire';

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

/**
 * Decodes a head followed by exactly `count` data bytes (DMA_READ reply, DMA_WRITE request); the
 * data is a view onto the received bytes.
 */
export function decodeDmaAccessWithData(
  r: PayloadReader,
  options: DecodeOptions,
): DmaAccess & { data: Uint8Array } {
  r.need(16, 'the DMA access struct');
  const a = decodeDmaAccess(r, options);
  if (BigInt(r.length - 16) !== a.count) {
    throw r.error(
      r.length - 16 < a.count ? 'short-payload' : 'trailing-bytes',
      `count ${a.count} but ${r.length - 16} data bytes`,
      'count',
      8,
    );
  }
  return { address: a.address, count: a.count, data: r.view8(16, r.length - 16, 'data') };
}

/** Writes a head and its data; `name` is the command, named in the error when `data` is not `count` bytes. */
export function encodeDmaAccessWithData(
  w: PayloadWriter,
  a: DmaAccess & { data: Uint8Array },
  name: string,
): void {
  if (BigInt(a.data.length) !== a.count) throw encodeError(name, 'data length differs from count', 'data');
  encodeDmaAccess(w, a);
  w.bytesAt(16, a.data);
}
