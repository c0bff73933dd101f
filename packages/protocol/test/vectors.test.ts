import { join } from 'node:path';
import {
  loadSharedVectors,
  loadVectorFile,
  sharedVectorsSkipReason,
  type VectorRecord,
} from '@vfu/test-utils';
import { describe, expect, it } from 'vitest';
import {
  Command,
  decodeMessage,
  describe as describeMessage,
  encodeMessage,
  type FramedMessage,
  isProtocolError,
  MessageFramer,
} from '../src/index';
import { FIXTURES_DIR, fakeFds, knownLength, recordBytes } from './vectors';

/** The reply the capture recorded for a request, if any. */
function replyTo(records: readonly VectorRecord[], req: VectorRecord): VectorRecord | undefined {
  const origin = (r: VectorRecord) => (r as unknown as { file_origin?: string }).file_origin ?? r.file;
  return records.find(
    (r) =>
      r.seq > req.seq &&
      origin(r) === origin(req) &&
      r.conn === req.conn &&
      r.dir !== req.dir &&
      r.type === 'reply' &&
      r.msg_id === req.msg_id &&
      r.cmd === req.cmd,
  );
}

function frame(r: VectorRecord): FramedMessage {
  const framer = new MessageFramer({ maxMessageSize: 1 << 24, maxFdsPerMessage: 16 });
  framer.push(recordBytes(r), fakeFds(r));
  const ev = framer.next();
  if (ev?.kind !== 'message') throw new Error(`record ${r.seq} did not frame: ${JSON.stringify(ev)}`);
  expect(framer.next()).toBeUndefined();
  return ev.message;
}

/**
 * Decodes every record and re-encodes it byte for byte. A request the decoder rejects must be
 * one the capture's server rejected too, with the same errno. Returns the rejected records.
 */
function checkFile(records: readonly VectorRecord[]): VectorRecord[] {
  const rejected: VectorRecord[] = [];
  for (const r of records) {
    const framed = frame(r);
    let decoded: ReturnType<typeof decodeMessage>;
    try {
      decoded = decodeMessage(framed);
    } catch (e) {
      if (!isProtocolError(e)) throw e;
      const reply = replyTo(records, r);
      expect(r.type, `seq ${r.seq}: ${e.message}`).toBe('command');
      expect(reply?.error_flag, `seq ${r.seq} rejected (${e.message}) but the capture accepted it`).toBe(
        true,
      );
      expect(e.errno, `seq ${r.seq}`).toBe(reply?.error);
      rejected.push(r);
      continue;
    }
    const bytes = encodeMessage(decoded);
    const n = knownLength(r);
    expect(bytes.length, `seq ${r.seq} size`).toBe(r.msg_size);
    expect(Buffer.from(bytes.subarray(0, n)).toString('hex'), `seq ${r.seq} ${r.note}`).toBe(
      Buffer.from(recordBytes(r).subarray(0, n)).toString('hex'),
    );
    // The dissector describes every real message without throwing.
    expect(describeMessage(framed).summary.length).toBeGreaterThan(0);
  }
  return rejected;
}

const vectorsMissing = sharedVectorsSkipReason();

describe.skipIf(vectorsMissing !== undefined)('golden vectors from libvfio-user', () => {
  const files = vectorsMissing === undefined ? loadSharedVectors() : new Map<string, VectorRecord[]>();

  it('finds the four capture files beside the repository', () => {
    expect([...files.keys()]).toEqual([
      'gpio_client.jsonl',
      'gpio_tour.jsonl',
      'server_client.jsonl',
      'shadow_ioeventfd_tour.jsonl',
    ]);
  });

  for (const [name, records] of files) {
    it(`${name}: every message decodes and re-encodes to identical bytes`, () => {
      expect(records.length).toBeGreaterThan(0);
      const rejected = checkFile(records);
      // Only the tours send requests the server must refuse: GET_INFO without payload and
      // command 99.
      const expected = name.includes('tour') ? [Command.DeviceGetInfo, 99] : [];
      expect(rejected.map((r) => r.cmd).sort((a, b) => a - b)).toEqual(expected);
    });
  }

  it('covers every command as request and reply', () => {
    const seen = new Set<string>();
    for (const records of files.values()) for (const r of records) seen.add(`${r.cmd}/${r.type}`);
    for (const c of Object.values(Command).filter((v): v is Command => typeof v === 'number')) {
      expect(seen.has(`${c}/command`), `command ${c}`).toBe(true);
      expect(seen.has(`${c}/reply`), `reply ${c}`).toBe(true);
    }
  });
});

describe('representative vectors shipped as fixtures', () => {
  const records = loadVectorFile(join(FIXTURES_DIR, 'representative.jsonl'));

  it('decode and re-encode byte for byte, rejecting only what the captured server rejected', () => {
    const rejected = checkFile(records);
    expect(rejected.map((r) => r.cmd).sort((a, b) => a - b)).toEqual([Command.DeviceGetInfo, 99]);
  });

  it('cover every command', () => {
    const cmds = new Set(records.map((r) => r.cmd));
    for (const c of Object.values(Command).filter((v): v is Command => typeof v === 'number')) {
      expect(cmds.has(c), `command ${c}`).toBe(true);
    }
  });
});
