import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

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
  note: string;
}

/** Bytes the capture kept of each payload. */
export const CAPTURE_CUT = 4096;

/** The shared vectors directory beside the repository: `<repo>/../shared/vectors`. */
export const SHARED_VECTORS_DIR = fileURLToPath(new URL('../../../../shared/vectors', import.meta.url));

/** Copies of a few representative vectors shipped with the package. */
export const FIXTURES_DIR = fileURLToPath(new URL('./fixtures', import.meta.url));

/** Message records of one JSON Lines file (event records skipped). */
export function loadVectorFile(path: string, file: string): VectorRecord[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((r) => !('event' in r))
    .map((r) => ({ ...(r as unknown as VectorRecord), file }));
}

/** All `.jsonl` files of a directory; throws when the directory is missing. */
export function loadVectorDir(dir: string): Map<string, VectorRecord[]> {
  if (!existsSync(dir)) throw new Error(`golden vectors not found at ${dir}`);
  const out = new Map<string, VectorRecord[]>();
  for (const f of readdirSync(dir)
    .filter((n) => n.endsWith('.jsonl'))
    .sort()) {
    out.set(f, loadVectorFile(join(dir, f), f));
  }
  return out;
}

/** The wire bytes of a record; a truncated payload is zero-filled past the cut. */
export function recordBytes(r: VectorRecord): Uint8Array {
  const out = new Uint8Array(r.msg_size);
  const v = new DataView(out.buffer);
  v.setUint16(0, r.msg_id, true);
  v.setUint16(2, r.cmd, true);
  v.setUint32(4, r.msg_size, true);
  v.setUint32(8, r.flags, true);
  v.setUint32(12, r.error, true);
  out.set(Buffer.from(r.payload_hex, 'hex'), 16);
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
