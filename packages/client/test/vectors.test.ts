import { join } from 'node:path';
import { Command, Errno } from '@vfu/protocol';
import {
  loadSharedVectors,
  loadVectorFile,
  recordPayload,
  sharedVectorsSkipReason,
  type VectorRecord,
} from '@vfu/test-utils';
import { describe, expect, it } from 'vitest';
import {
  ClientError,
  decodeReply,
  deviceInfoFromReply,
  irqInfoFromReply,
  isVfioUserReplyError,
  regionInfoFromReply,
  regionInfoNeedsRetry,
  regionReadData,
} from '../src/index';
import { FIXTURES_DIR, recordFramed } from './vectors';

const vectorsMissing = sharedVectorsSkipReason();
const shared = vectorsMissing === undefined ? loadSharedVectors() : new Map<string, VectorRecord[]>();
/** Tests over the shared capture files; the packaged fixtures run everywhere. */
const itShared = it.skipIf(vectorsMissing !== undefined);

/** The request each reply answers: the latest c2s command with the same connection, command and msg_id. */
function pairs(records: VectorRecord[]): [VectorRecord, VectorRecord][] {
  const out: [VectorRecord, VectorRecord][] = [];
  for (const [i, r] of records.entries()) {
    if (r.dir !== 's2c' || r.type !== 'reply') continue;
    for (let j = i - 1; j >= 0; j--) {
      const q = records[j] as VectorRecord;
      if (
        q.dir === 'c2s' &&
        q.type === 'command' &&
        q.conn === r.conn &&
        q.cmd === r.cmd &&
        q.msg_id === r.msg_id
      ) {
        out.push([q, r]);
        break;
      }
    }
  }
  return out;
}

function replayFile(records: VectorRecord[]): number {
  let checked = 0;
  for (const [request, reply] of pairs(records)) {
    const framed = recordFramed(
      reply,
      Array.from({ length: reply.nfds }, (_, i) => 1000 + i),
    );
    if (reply.error_flag) {
      const error = (() => {
        try {
          decodeReply(reply.cmd, framed);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(isVfioUserReplyError(error), `seq ${reply.seq}`).toBe(true);
      expect(error).toMatchObject({
        command: reply.cmd,
        errno: reply.error,
        msgId: reply.msg_id,
        code: 'error-reply',
      });
      checked++;
      continue;
    }
    if (reply.payload_truncated) continue; // the capture cut the payload: nothing exact to check
    switch (reply.cmd) {
      case Command.Version: {
        const body = decodeReply(Command.Version, framed);
        expect(body.major).toBe(0);
        expect(body.minor).toBe(2);
        break;
      }
      case Command.DeviceGetInfo: {
        const info = deviceInfoFromReply(decodeReply(Command.DeviceGetInfo, framed));
        expect(info).toMatchObject({ reset: true, pci: true, numRegions: 9, numIrqs: 5 });
        break;
      }
      case Command.DeviceGetRegionInfo: {
        const body = decodeReply(Command.DeviceGetRegionInfo, framed);
        const requestedArgsz = new DataView(recordPayload(request).buffer).getUint32(0, true);
        const info = regionInfoFromReply(body, reply.nfds);
        if (regionInfoNeedsRetry(body, requestedArgsz)) {
          // libvfio-user's truncated form: MMAP without capabilities or fd; nothing to map yet.
          expect(reply.nfds).toBe(0);
          expect(info.mmapAreas).toEqual([]);
        } else if (info.mmappable && reply.nfds === 1) {
          expect(info.mmapAreas.length).toBeGreaterThan(0);
          for (const a of info.mmapAreas) expect(a.offset + a.size <= info.size).toBe(true);
        }
        break;
      }
      case Command.DeviceGetIrqInfo: {
        const irq = irqInfoFromReply(decodeReply(Command.DeviceGetIrqInfo, framed));
        expect(irq.eventfd).toBe(true);
        expect(irq.index).toBe(new DataView(recordPayload(request).buffer).getUint32(8, true));
        break;
      }
      case Command.RegionRead: {
        const q = new DataView(recordPayload(request).buffer);
        const req = {
          offset: q.getBigUint64(0, true),
          region: q.getUint32(8, true),
          count: q.getUint32(12, true),
        };
        const data = regionReadData(req, decodeReply(Command.RegionRead, framed));
        expect(data.length).toBe(req.count);
        break;
      }
      default:
        // Every other reply must at least decode as a reply of its command.
        decodeReply(reply.cmd as Command, framed);
    }
    checked++;
  }
  return checked;
}

describe('server replies of the golden vectors through the client decoding', () => {
  for (const [file, records] of shared) {
    it(`decodes and interprets every reply of ${file}`, () => {
      expect(replayFile(records)).toBeGreaterThan(10);
    });
  }

  it('decodes the packaged fixtures the same way', () => {
    for (const f of ['gpio_client.jsonl', 'server_client_head.jsonl']) {
      expect(replayFile(loadVectorFile(join(FIXTURES_DIR, f)))).toBeGreaterThan(10);
    }
  });

  itShared('turns the EINVAL for a bogus region into a typed error with command, errno and msg_id', () => {
    const records = shared.get('server_client.jsonl') ?? [];
    const reply = records.find((r) => r.error_flag && r.cmd === Command.RegionRead) as VectorRecord;
    try {
      decodeReply(Command.RegionRead, recordFramed(reply));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ClientError);
      expect(e).toMatchObject({ command: Command.RegionRead, errno: Errno.EINVAL, msgId: 61455 });
      expect((e as Error).message).toContain('REGION_READ');
      expect((e as Error).message).toContain('EINVAL');
    }
  });

  itShared('reads the BAR1 sparse areas of the sample server from the argsz-80 reply', () => {
    const records = shared.get('server_client.jsonl') ?? [];
    const reply = records.find((r) => r.cmd === Command.DeviceGetRegionInfo && r.nfds === 1) as VectorRecord;
    const info = regionInfoFromReply(
      decodeReply(Command.DeviceGetRegionInfo, recordFramed(reply, [1000])),
      1,
    );
    expect(info).toMatchObject({ index: 1, name: 'BAR1', size: 0x4000n, mmappable: true, hasFd: true });
    expect(info.mmapAreas.length).toBe(2);
  });

  itShared('refuses a REGION_READ reply for another region than asked', () => {
    const records = shared.get('server_client.jsonl') ?? [];
    const reply = records.find(
      (r) => r.cmd === Command.RegionRead && !r.error_flag && r.dir === 's2c',
    ) as VectorRecord;
    const body = decodeReply(Command.RegionRead, recordFramed(reply));
    expect(() => regionReadData({ region: 0, offset: 0n, count: 64 }, body)).toThrow(/does not match/);
  });

  itShared('refuses a reply of another command as bad-reply', () => {
    const records = shared.get('gpio_client.jsonl') ?? [];
    const reply = records.find((r) => r.cmd === Command.DeviceGetInfo && r.dir === 's2c') as VectorRecord;
    expect(() => decodeReply(Command.DeviceGetIrqInfo, recordFramed(reply))).toThrow(
      expect.objectContaining({ code: 'bad-reply' }),
    );
  });
});
