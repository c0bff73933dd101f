import type { MemoryRegionOps } from '../src/types';

/** One callback invocation, as recorded by `recordingOps`. */
export type Call = ['read', number, number] | ['write', number, number, number];

/**
 * MMIO ops over a byte array that record every callback. Values are exchanged in the given
 * endianness, so a test can check both the call sequence and the bytes that moved.
 */
export function recordingOps(
  size: number,
  extra: Omit<MemoryRegionOps, 'read' | 'write'> = {},
): { ops: MemoryRegionOps; calls: Call[]; bytes: Uint8Array } {
  const bytes = new Uint8Array(size);
  const calls: Call[] = [];
  const big = extra.endianness === 'big';
  const ops: MemoryRegionOps = {
    ...extra,
    read(offset, n) {
      calls.push(['read', offset, n]);
      let v = 0;
      for (let k = 0; k < n; k++) {
        const byte = bytes[offset + k] ?? 0;
        v += byte * 2 ** (8 * (big ? n - 1 - k : k));
      }
      return v;
    },
    write(offset, value, n) {
      calls.push(['write', offset, value, n]);
      for (let k = 0; k < n; k++) {
        if (offset + k < size)
          bytes[offset + k] = Math.floor(value / 2 ** (8 * (big ? n - 1 - k : k))) & 0xff;
      }
    },
  };
  return { ops, calls, bytes };
}
