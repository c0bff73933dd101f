import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  loadSharedVectors,
  loadVectorDir,
  loadVectorFile,
  recordPayload,
  SHARED_VECTORS_DIR,
  sharedVectorsSkipReason,
  type VectorRecord,
} from './golden-vectors';
import { makeTempDir } from './temp-dir';

/** A complete message record, as the capture writes it (plus a field the type does not list). */
function record(fields: Partial<VectorRecord> = {}): Record<string, unknown> {
  return {
    seq: 1,
    conn: 'c0',
    dir: 'c2s',
    msg_id: 7,
    cmd: 1,
    msg_size: 20,
    flags: 0,
    type: 'command',
    error: 0,
    error_flag: false,
    payload_len: 4,
    payload_hex: '01020304',
    payload_truncated: false,
    nfds: 0,
    fd_kinds: [],
    note: '',
    cmd_name: 'VFIO_USER_VERSION',
    ...fields,
  };
}

function tempDir(): ReturnType<typeof makeTempDir> {
  const dir = makeTempDir('vfu-vectors-');
  onTestFinished(() => dir.remove());
  return dir;
}

function writeLines(path: string, lines: readonly unknown[]): string {
  writeFileSync(path, `${lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n')}\n`);
  return path;
}

describe('loadVectorFile', () => {
  it('returns the message records in order, tagged with the file name, skipping events and blank lines', () => {
    const path = writeLines(tempDir().join('a.jsonl'), [
      { event: 'connect', conn: 'c0' },
      record({ seq: 1 }),
      '',
      record({ seq: 2, dir: 's2c', type: 'reply' }),
    ]);
    const records = loadVectorFile(path);
    expect(records.map((r) => [r.file, r.seq, r.dir])).toEqual([
      ['a.jsonl', 1, 'c2s'],
      ['a.jsonl', 2, 's2c'],
    ]);
    expect(records[0]).toEqual({ ...record({ seq: 1 }), file: 'a.jsonl' });
  });

  it('names the file and line of a line that is not JSON', () => {
    const path = writeLines(tempDir().join('bad.jsonl'), [record(), '{"seq": 2,']);
    expect(() => loadVectorFile(path)).toThrow(`${path}:2: not JSON`);
  });

  it('rejects a line that is not an object', () => {
    const path = writeLines(tempDir().join('bad.jsonl'), ['[1, 2]']);
    expect(() => loadVectorFile(path)).toThrow(`${path}:1: not a JSON object`);
  });

  it('rejects a record missing a field or with a field of the wrong type', () => {
    const dir = tempDir();
    const { msg_size: _, ...noSize } = record();
    expect(() => loadVectorFile(writeLines(dir.join('a.jsonl'), [noSize]))).toThrow(
      /a\.jsonl:1: field msg_size is not a number$/,
    );
    expect(() =>
      loadVectorFile(writeLines(dir.join('b.jsonl'), [record({ payload_hex: 5 as never })])),
    ).toThrow(/b\.jsonl:1: field payload_hex is not a string$/);
  });

  it('throws when the file is missing', () => {
    expect(() => loadVectorFile(tempDir().join('none.jsonl'))).toThrow(/ENOENT/);
  });
});

describe('loadVectorDir', () => {
  it('reads every .jsonl file, sorted by name, ignoring other files', () => {
    const dir = tempDir();
    writeLines(dir.join('b.jsonl'), [record({ seq: 2 })]);
    writeLines(dir.join('a.jsonl'), [record({ seq: 1 })]);
    writeFileSync(dir.join('README.md'), '# vectors\n');
    mkdirSync(dir.join('sub'));
    const files = loadVectorDir(dir.path);
    expect([...files.keys()]).toEqual(['a.jsonl', 'b.jsonl']);
    expect(files.get('b.jsonl')?.map((r) => r.seq)).toEqual([2]);
  });

  it('throws when the directory is missing', () => {
    const missing = tempDir().join('missing');
    expect(() => loadVectorDir(missing)).toThrow(`golden vectors not found at ${missing}`);
  });

  it('throws when the directory holds no vectors', () => {
    const dir = tempDir();
    writeFileSync(dir.join('README.md'), '# vectors\n');
    expect(() => loadVectorDir(dir.path)).toThrow(`no golden vectors (*.jsonl) in ${dir.path}`);
  });
});

describe('the shared vectors', () => {
  it('are looked up beside the repository', () => {
    const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
    expect(SHARED_VECTORS_DIR).toBe(join(dirname(repoRoot), 'shared', 'vectors'));
  });

  it('are skipped with a reason outside CI when missing, and an error under CI', () => {
    const missing = join(tempDir().path, 'no-vectors-here');
    expect(sharedVectorsSkipReason(missing, {})).toBe(
      `golden vectors not found at ${missing} (shared/ beside the repository)`,
    );
    expect(() => sharedVectorsSkipReason(missing, { CI: 'true' })).toThrow(
      /CI runs the golden-vector suites/,
    );
    expect(sharedVectorsSkipReason(tempDir().path, { CI: 'true' })).toBeUndefined();
  });

  it.skipIf(sharedVectorsSkipReason() !== undefined)('load, every file with message records', () => {
    const files = loadSharedVectors();
    expect(files.size).toBeGreaterThan(0);
    for (const [name, records] of files) {
      expect(name).toMatch(/\.jsonl$/);
      expect(records.length).toBeGreaterThan(0);
      for (const r of records) expect(recordPayload(r)).toHaveLength(r.payload_len);
    }
  });
});

describe('recordPayload', () => {
  it('decodes the hex payload', () => {
    const r = {
      ...record({ payload_hex: '00ff10Ab', payload_len: 4 }),
      file: 'a',
    } as unknown as VectorRecord;
    expect(recordPayload(r)).toEqual(new Uint8Array([0x00, 0xff, 0x10, 0xab]));
  });

  it('zero-fills a truncated payload to its full length', () => {
    const r = {
      ...record({ payload_hex: 'aabb', payload_len: 5, payload_truncated: true }),
      file: 'a',
    } as unknown as VectorRecord;
    expect(recordPayload(r)).toEqual(new Uint8Array([0xaa, 0xbb, 0, 0, 0]));
  });

  it('rejects hex that is odd-length, not hex, or longer than the payload', () => {
    const bad = (fields: Partial<VectorRecord>) =>
      ({ ...record(fields), file: 'f.jsonl' }) as unknown as VectorRecord;
    expect(() => recordPayload(bad({ payload_hex: 'abc' }))).toThrow(
      'f.jsonl seq 1: payload_hex is not a whole number of hex bytes',
    );
    expect(() => recordPayload(bad({ payload_hex: 'zz' }))).toThrow(/not a whole number of hex bytes/);
    expect(() => recordPayload(bad({ payload_hex: '0102', payload_len: 1 }))).toThrow(
      'f.jsonl seq 1: payload_hex holds 2 bytes, payload_len is 1',
    );
  });
});
