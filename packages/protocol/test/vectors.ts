import { fileURLToPath } from 'node:url';
import { recordPayload, type VectorRecord } from '@vfu/test-utils';

/** Bytes the capture kept of each payload. */
export const CAPTURE_CUT = 4096;

/** Copies of a few representative vectors shipped with the package. */
export const FIXTURES_DIR = fileURLToPath(new URL('./fixtures', import.meta.url));

/**
 * The wire bytes of a record; a truncated payload is zero-filled past the cut. The header is packed
 * by hand, not with the encoder under test.
 */
export function recordBytes(r: VectorRecord): Uint8Array {
  const out = new Uint8Array(r.msg_size);
  const v = new DataView(out.buffer);
  v.setUint16(0, r.msg_id, true);
  v.setUint16(2, r.cmd, true);
  v.setUint32(4, r.msg_size, true);
  v.setUint32(8, r.flags, true);
  v.setUint32(12, r.error, true);
  out.set(recordPayload(r), 16);
  return out;
}

/** Number of leading bytes of {@link recordBytes} that are real (not filled past the cut). */
export function knownLength(r: VectorRecord): number {
  return r.payload_truncated ? 16 + CAPTURE_CUT : r.msg_size;
}

/** Stand-in fd numbers for a record's SCM_RIGHTS fds. */
export function fakeFds(r: VectorRecord): number[] {
  return Array.from({ length: r.nfds }, (_, i) => 100 + i);
}
