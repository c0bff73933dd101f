import { fileURLToPath } from 'node:url';
import { decodeHeader, type FramedMessage } from '@vfu/protocol';
import { recordPayload, type VectorRecord } from '@vfu/test-utils';

/** Copies of a few vectors shipped with the package. */
export const FIXTURES_DIR = fileURLToPath(new URL('./fixtures', import.meta.url));

/** The record as a framed message (header decoded from its fields); `fds` as given. */
export function recordFramed(r: VectorRecord, fds: number[] = []): FramedMessage {
  const head = new Uint8Array(16);
  const v = new DataView(head.buffer);
  v.setUint16(0, r.msg_id, true);
  v.setUint16(2, r.cmd, true);
  v.setUint32(4, r.msg_size, true);
  v.setUint32(8, r.flags, true);
  v.setUint32(12, r.error, true);
  return { header: decodeHeader(head), payload: recordPayload(r), fds };
}
