import { checkXferCount, type DecodeOptions, type DescribedField } from '../codec-types';
import { encodeError, hexBytes, type PayloadReader, type PayloadWriter } from '../wire';

/** The 8-byte `vfio_user_mig_data` head that MIG_DATA_READ and MIG_DATA_WRITE share. */
export interface MigData {
  argsz: number;
  /** Bytes of migration data. */
  size: number;
}

/**
 * Decodes the head of a request: `size` within the negotiated maximum, `argsz` covering the
 * 8 + `size` bytes the reply (read) or the request (write) carries.
 */
export function decodeMigDataRequest(r: PayloadReader, options: DecodeOptions): MigData {
  const argsz = r.u32(0, 'argsz');
  const size = r.u32(4, 'size');
  checkXferCount(r, size, options, 'size', 4);
  r.argszAtLeast(argsz, 8 + size);
  return { argsz, size };
}

/**
 * Writes the head and, when given, the data after it; `name` is the command, named in the error
 * when `data` is not `size` bytes.
 */
export function encodeMigData(w: PayloadWriter, m: MigData, name: string, data?: Uint8Array): void {
  if (data !== undefined && data.length !== m.size)
    throw encodeError(name, 'data length differs from size', 'data');
  w.u32(0, m.argsz, 'argsz');
  w.u32(4, m.size, 'size');
  if (data !== undefined) w.bytesAt(8, data);
}

/** Describer fields of a head and optional data. */
export function describeMigData(m: MigData, data?: Uint8Array): DescribedField[] {
  const f: DescribedField[] = [
    ['argsz', String(m.argsz)],
    ['size', String(m.size)],
  ];
  if (data !== undefined) f.push(['data', hexBytes(data)]);
  return f;
}
