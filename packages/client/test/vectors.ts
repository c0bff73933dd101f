import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeHeader, type FramedMessage } from '@vfu/protocol';

/** One message record of a golden-vector file (see shared/vectors/README.md). */
export interface VectorRecord {
  file: string;
  seq: number;
  conn: string;
  dir: 'c2s' | 's2c';
  msg_id: number;
  cmd: number;
  msg_size: number;
  flags: number;
  type: 'command' | 'reply';
  error: number;
  error_flag: boolean;
  payload_len: number;
  payload_hex: string;
  payload_truncated: boolean;
  nfds: number;
  fd_kinds: string[];
  note: string;
}

/** The shared vectors directory beside the repository: `<repo>/../shared/vectors`. */
export const SHARED_VECTORS_DIR = fileURLToPath(new URL('../../../../shared/vectors', import.meta.url));

/** Copies of a few vectors shipped with the package. */
export const FIXTURES_DIR = fileURLToPath(new URL('./fixtures', import.meta.url));

/** Message records of one JSON Lines file (event records skipped). */
export function loadVectorFile(path: string): VectorRecord[] {
  const file = path.split('/').pop() ?? path;
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((r) => !('event' in r))
    .map((r) => ({ ...(r as unknown as VectorRecord), file }));
}

/** Every `.jsonl` file of the shared vectors; throws (failing the test) when the directory is missing. */
export function loadSharedVectors(): Map<string, VectorRecord[]> {
  if (!existsSync(SHARED_VECTORS_DIR)) {
    throw new Error(
      `golden vectors not found at ${SHARED_VECTORS_DIR}: the repository expects shared/ beside it`,
    );
  }
  const out = new Map<string, VectorRecord[]>();
  for (const f of readdirSync(SHARED_VECTORS_DIR)
    .filter((n) => n.endsWith('.jsonl'))
    .sort()) {
    out.set(f, loadVectorFile(join(SHARED_VECTORS_DIR, f)));
  }
  return out;
}

/** The payload bytes of a record; a truncated payload is zero-filled past the cut. */
export function recordPayload(r: VectorRecord): Uint8Array {
  const out = new Uint8Array(r.payload_len);
  const hex = r.payload_hex;
  for (let i = 0; i < hex.length / 2; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

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
