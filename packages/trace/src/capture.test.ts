import { existsSync, readFileSync } from 'node:fs';
import { Command, encodeHeader } from '@vfu/protocol';
import { makeTempDir } from '@vfu/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { CaptureWriter, rotatedPath } from './capture-writer';
import { captureStats, decodeLine, matchesFilter } from './decode';
import { readPcapng } from './pcapng';
import { readCapture } from './read-capture';
import { VFIO_USER_LINKTYPE } from './record';

const dirs: { remove(): void }[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.remove();
});

function tempDir() {
  const d = makeTempDir('vfu-trace-');
  dirs.push(d);
  return d;
}

function message(command: number, msgId: number, type: 'command' | 'reply', body = new Uint8Array(0)) {
  return [encodeHeader({ msgId, command, type, msgSize: 16 + body.byteLength }), body];
}

describe('CaptureWriter and readCapture', () => {
  it('round-trips messages with endpoint, connection, direction, fds and time', () => {
    const dir = tempDir();
    const path = dir.join('t.pcapng');
    const w = CaptureWriter.open(path, { application: 'test 1.0' });
    const s0 = w.endpoint('s0', '/run/a.sock', 'server');
    const c = w.endpoint('vfu-client', '/run/b.sock', 'client');
    s0(1)({ direction: 'received', parts: message(Command.DeviceReset, 5, 'command'), fds: 0, time: 1000.5 });
    s0(1)({ direction: 'sent', parts: message(Command.DeviceReset, 5, 'reply'), fds: 0, time: 1001.25 });
    c(1)({
      direction: 'sent',
      parts: message(Command.DmaMap, 9, 'command', new Uint8Array(32)),
      fds: 1,
      time: 1002,
    });
    w.close();
    const file = readPcapng(readFileSync(path));
    expect(file.sections).toEqual([
      {
        application: 'test 1.0',
        interfaces: [
          expect.objectContaining({ linkType: VFIO_USER_LINKTYPE, name: 's0', description: '/run/a.sock' }),
          expect.objectContaining({ name: 'vfu-client' }),
        ],
      },
    ]);
    const m = readCapture(readFileSync(path));
    expect(m.map((x) => [x.endpoint, x.connection, x.direction, x.fds, x.timeMicros])).toEqual([
      ['s0', 1, 'c2s', 0, 1_000_500n],
      ['s0', 1, 's2c', 0, 1_001_250n],
      ['vfu-client', 1, 'c2s', 1, 1_002_000n],
    ]);
    expect(m[2]?.bytes.byteLength).toBe(48);
    expect(decodeLine(m[2]!, m[0]!.timeMicros)).toMatch(
      /0\.001500 vfu-client#1 c2s DMA_MAP request #0x9 .*\(\+1 fd\)/,
    );
    expect(m.filter((x) => matchesFilter(x, { commands: ['device_reset'] }))).toHaveLength(2);
    const stats = captureStats(m);
    expect(stats.find((s) => s.command === 'DEVICE_RESET')).toMatchObject({
      requests: 1,
      replies: 1,
      p50Micros: 750,
    });
  });

  it('cuts messages longer than the snap length and keeps their wire length', () => {
    const dir = tempDir();
    const path = dir.join('t.pcapng');
    const w = CaptureWriter.open(path, { snapLength: 64 });
    w.endpoint('s0', undefined, 'server')(1)({
      direction: 'received',
      parts: message(Command.RegionWrite, 1, 'command', new Uint8Array(200)),
      fds: 0,
      time: 0,
    });
    w.close();
    const [m] = readCapture(readFileSync(path));
    expect(m).toMatchObject({ truncated: true, length: 216 });
    expect(m?.bytes.byteLength).toBe(64);
  });

  it('rotates at the size cap, keeping the configured number of files, each readable alone', () => {
    const dir = tempDir();
    const path = dir.join('trace.pcapng');
    const w = CaptureWriter.open(path, { maxFileBytes: 64 * 1024, files: 3 });
    const tap = w.endpoint('s0', undefined, 'server')(1);
    for (let i = 0; i < 400; i++) {
      tap({
        direction: 'received',
        parts: message(Command.RegionWrite, i, 'command', new Uint8Array(1000)),
        fds: 0,
        time: i,
      });
    }
    w.close();
    expect(rotatedPath(path, 1)).toBe(dir.join('trace.1.pcapng'));
    expect(existsSync(rotatedPath(path, 2))).toBe(true);
    expect(existsSync(rotatedPath(path, 3))).toBe(false);
    const sizes = [0, 1, 2].map((n) => readFileSync(rotatedPath(path, n)).byteLength);
    for (const s of sizes) expect(s).toBeLessThanOrEqual(64 * 1024);
    const newest = readCapture(readFileSync(path));
    expect(newest.at(-1)?.bytes[0]).toBe(399 & 0xff);
    expect(newest[0]?.endpoint).toBe('s0');
  });

  it('stops capturing once closed; bad paths and options fail at open', () => {
    const dir = tempDir();
    const errors: string[] = [];
    const w = CaptureWriter.open(dir.join('t.pcapng'), { onError: (e) => errors.push(e.code) });
    const tap = w.endpoint('s0', undefined, 'server')(1);
    w.close();
    tap({ direction: 'received', parts: message(Command.DeviceReset, 1, 'command'), fds: 0, time: 0 });
    expect(w.capturing).toBe(false);
    expect(() => CaptureWriter.open(dir.join('missing/t.pcapng'))).toThrow(/cannot create/);
    expect(() => CaptureWriter.open(dir.join('x.pcapng'), { maxFileBytes: 10 })).toThrow(/maxFileBytes/);
    expect(errors).toEqual([]);
  });

  it('rejects a file that is not pcapng', () => {
    expect(() => readCapture(new Uint8Array(64))).toThrow(/not a pcapng file/);
  });
});
