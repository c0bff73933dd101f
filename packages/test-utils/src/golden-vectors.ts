import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * One message record of a golden-vector file (see shared/vectors/README.md), with the name of the
 * file it came from. Records may carry further fields (`cmd_name`, `t`, ...) not listed here.
 */
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

/**
 * The shared golden vectors, kept beside the repository rather than in it:
 * `<repo>/../shared/vectors`. Resolved from this module, which sits two levels below the
 * repository root in `src/` and in `dist/` alike.
 */
export const SHARED_VECTORS_DIR = fileURLToPath(new URL('../../../../shared/vectors', import.meta.url));

/** Fields every message record must carry, with their JSON type. */
const RECORD_FIELDS = {
  seq: 'number',
  conn: 'string',
  dir: 'string',
  msg_id: 'number',
  cmd: 'number',
  msg_size: 'number',
  flags: 'number',
  type: 'string',
  error: 'number',
  error_flag: 'boolean',
  payload_len: 'number',
  payload_hex: 'string',
  payload_truncated: 'boolean',
  nfds: 'number',
} as const;

/**
 * Message records of one JSON Lines file, in order, each tagged with the file's name; event
 * records (`{"event": ...}`) are skipped. Throws, naming the file and line, on a line that is not
 * a JSON object or a record missing a field, so a damaged capture fails the test that reads it.
 */
export function loadVectorFile(path: string): VectorRecord[] {
  const file = basename(path);
  const out: VectorRecord[] = [];
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (line.trim() === '') return;
      const where = `${path}:${i + 1}`;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (e) {
        throw new Error(`${where}: not JSON`, { cause: e });
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new Error(`${where}: not a JSON object`);
      }
      const record = value as Record<string, unknown>;
      if ('event' in record) return;
      for (const [field, type] of Object.entries(RECORD_FIELDS)) {
        if (typeof record[field] !== type) throw new Error(`${where}: field ${field} is not a ${type}`);
      }
      out.push({ ...(record as unknown as VectorRecord), file });
    });
  return out;
}

/**
 * Every `.jsonl` file of `dir`, by file name in sorted order. Throws when the directory is missing
 * or holds no vectors, so the tests reading it cannot pass by checking nothing.
 */
export function loadVectorDir(dir: string): Map<string, VectorRecord[]> {
  if (!existsSync(dir)) throw new Error(`golden vectors not found at ${dir}`);
  const names = readdirSync(dir)
    .filter((n) => n.endsWith('.jsonl'))
    .sort();
  if (names.length === 0) throw new Error(`no golden vectors (*.jsonl) in ${dir}`);
  return new Map(names.map((name) => [name, loadVectorFile(join(dir, name))]));
}

/** {@link loadVectorDir} of {@link SHARED_VECTORS_DIR}, saying where the vectors are expected. */
export function loadSharedVectors(): Map<string, VectorRecord[]> {
  if (!existsSync(SHARED_VECTORS_DIR)) {
    throw new Error(
      `golden vectors not found at ${SHARED_VECTORS_DIR}: the repository expects shared/ beside it`,
    );
  }
  return loadVectorDir(SHARED_VECTORS_DIR);
}

/**
 * Why the suites over the shared vectors cannot run here, or undefined when they can. CI lays the
 * vectors out beside the repository (shared/vectors); a clone without them skips those suites with
 * this reason (the vectors copied into each package as fixtures still run), except under CI
 * (`CI` set), where their absence is an error, so CI can never pass by checking nothing.
 */
export function sharedVectorsSkipReason(
  dir: string = SHARED_VECTORS_DIR,
  env: Record<string, string | undefined> = process.env,
): string | undefined {
  if (existsSync(dir)) return undefined;
  const reason = `golden vectors not found at ${dir} (shared/ beside the repository)`;
  if (env.CI) throw new Error(`${reason}: CI runs the golden-vector suites, so they must be there`);
  return reason;
}

/**
 * The payload bytes of a record (`payload_len` of them). The capture keeps only the first bytes of
 * a long payload; the rest is zero-filled. Throws when `payload_hex` is not hex or is longer than
 * the payload.
 */
export function recordPayload(r: VectorRecord): Uint8Array {
  const hex = r.payload_hex;
  if (hex.length % 2 !== 0 || !/^[0-9a-f]*$/i.test(hex)) {
    throw new Error(`${r.file} seq ${r.seq}: payload_hex is not a whole number of hex bytes`);
  }
  if (hex.length / 2 > r.payload_len) {
    throw new Error(
      `${r.file} seq ${r.seq}: payload_hex holds ${hex.length / 2} bytes, payload_len is ${r.payload_len}`,
    );
  }
  const out = new Uint8Array(r.payload_len);
  out.set(Buffer.from(hex, 'hex'));
  return out;
}
