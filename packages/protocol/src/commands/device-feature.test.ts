import { describe, expect, it } from 'vitest';
import { concat, expectProtocolError, framed, le, rawMessage, roundTrip, toHex } from '../../test/helpers';
import { decodeMessage, encodeMessage, type Message } from '../codec';
import { Command } from '../command';
import { DeviceFeatureFlags, DeviceFeatureIndex, MigDeviceState } from '../constants';
import { Errno } from '../errors';
import { dirtyBitmapSize, isPageDirty, migrationPath, setPageDirty } from '../migration';

const { Get, Set: SetOp, Probe } = DeviceFeatureFlags;
const dec = (command: number, payload: Uint8Array | number[], flags = 0) =>
  decodeMessage(framed(rawMessage({ command, flags, payload })), { maxDataXferSize: 4096 });
const head = (argsz: number, flags: number) => le(['u32', argsz], ['u32', flags]);

describe('DEVICE_FEATURE', () => {
  it('decodes MIGRATION GET without data and its reply', () => {
    expect(dec(16, head(16, 1 | Get))).toMatchObject({
      body: { feature: 1, get: true, set: false, probe: false },
    });
    expect(dec(16, concat(head(16, 1 | Get), le(['u64', 5n])), 1)).toMatchObject({
      body: { data: { kind: 'migration', flags: 5n } },
    });
  });

  it('decodes a PROBE that carries data, as libvfio-user clients send it', () => {
    expect(dec(16, concat(head(16, 1 | Probe), le(['u64', 0n])))).toMatchObject({
      body: { probe: true, data: { kind: 'migration', flags: 0n } },
    });
    expect(dec(16, head(8, 2 | Probe | Get | SetOp))).toMatchObject({
      body: { get: true, set: true, probe: true },
    });
  });

  it('decodes MIG_DEVICE_STATE SET with data_fd -1', () => {
    const m = dec(16, concat(head(16, 2 | SetOp), le(['u32', MigDeviceState.PreCopy], ['u32', 0xffff_ffff])));
    expect(m).toMatchObject({ body: { data: { kind: 'mig-device-state', deviceState: 6, dataFd: -1 } } });
  });

  it('decodes DMA logging START with ranges and STOP with the same struct', () => {
    const ranges = le(['u64', 0x1000n], ['u64', 0x2000n], ['u64', 0x10000n], ['u64', 0x1000n]);
    const m = dec(16, concat(head(56, 6 | SetOp), le(['u64', 4096n], ['u32', 2], ['u32', 0]), ranges));
    expect(m).toMatchObject({
      body: {
        data: {
          kind: 'dma-logging-control',
          pageSize: 4096n,
          ranges: [
            { iova: 0x1000n, length: 0x2000n },
            { iova: 0x10000n, length: 0x1000n },
          ],
        },
      },
    });
    expect(dec(16, concat(head(24, 7 | SetOp), le(['u64', 0n], ['u32', 0], ['u32', 0])))).toMatchObject({
      body: { feature: 7, data: { kind: 'dma-logging-control', pageSize: 0n, ranges: [] } },
    });
  });

  it('decodes a DMA logging report and checks the bitmap size against the range', () => {
    const range = le(['u64', 0n], ['u64', 0x41000n], ['u64', 0x1000n]); // 65 pages: two u64 words
    expect(dec(16, concat(head(48, 8 | Get), range))).toMatchObject({
      body: { data: { kind: 'dma-logging-report' } },
    });
    const m = dec(16, concat(head(48, 8 | Get), range, new Uint8Array(16)), 1);
    expect(m).toMatchObject({ body: { data: { bitmap: new Uint8Array(16) } } });
    expectProtocolError(
      () => dec(16, concat(head(48, 8 | Get), range, new Uint8Array(8)), 1),
      Errno.EINVAL,
      'bad-field',
    );
  });

  it('keeps data of features it does not know raw', () => {
    const m: Message = {
      kind: 'request',
      command: Command.DeviceFeature,
      msgId: 1,
      body: {
        argsz: 12,
        feature: 3,
        get: false,
        set: true,
        probe: false,
        data: { kind: 'raw', bytes: Uint8Array.of(1, 2, 3, 4) },
      },
    };
    expect(roundTrip(m)).toEqual({ ...m, fds: [] });
  });

  it('rejects bad flag combinations, states and sizes', () => {
    expectProtocolError(() => dec(16, head(8, 1)), Errno.EINVAL, 'bad-field');
    expectProtocolError(() => dec(16, head(8, 1 | Get | SetOp)), Errno.EINVAL, 'bad-field');
    expectProtocolError(() => dec(16, head(8, 1 | Get | (1 << 19))), Errno.EINVAL, 'bad-field');
    expectProtocolError(() => dec(16, head(4, 1 | Get)), Errno.EINVAL, 'bad-argsz');
    expectProtocolError(
      () => dec(16, concat(head(16, 2 | SetOp), le(['u32', 8], ['u32', 0]))),
      Errno.EINVAL,
      'bad-field',
    );
    expectProtocolError(
      () => dec(16, concat(head(16, 2 | SetOp), le(['u32', 1]))),
      Errno.EINVAL,
      'short-payload',
    );
    expectProtocolError(
      () => dec(16, concat(head(24, 6 | SetOp), le(['u64', 4096n], ['u32', 1], ['u32', 0]))),
      Errno.EINVAL,
      'bad-field',
    );
    expectProtocolError(
      () => dec(16, concat(head(24, 6 | SetOp), le(['u64', 0n], ['u32', 0], ['u32', 0]))),
      Errno.EINVAL,
      'bad-field',
    );
    expectProtocolError(
      () => dec(16, concat(head(40, 8 | Get), le(['u64', 0n], ['u64', 0x1000n], ['u64', 3000n]))),
      Errno.EINVAL,
      'bad-field',
    );
  });
});

describe('MIG_DATA_READ / MIG_DATA_WRITE', () => {
  it("decodes a read and libvfio-user's zero-padded short reply", () => {
    expect(dec(17, le(['u32', 1032], ['u32', 1024]))).toMatchObject({ body: { argsz: 1032, size: 1024 } });
    const m = dec(17, concat(le(['u32', 16], ['u32', 8]), [1, 2, 3, 4, 5, 6, 7, 8], new Uint8Array(1016)), 1);
    const body = m.kind === 'reply' && m.command === Command.MigDataRead ? m.body : undefined;
    expect(body?.data.length).toBe(8);
    expect(body?.trailing?.length).toBe(1016);
  });

  it('decodes a write and rejects sizes that disagree', () => {
    expect(dec(18, concat(le(['u32', 12], ['u32', 4]), [1, 2, 3, 4]))).toMatchObject({ body: { size: 4 } });
    expectProtocolError(
      () => dec(18, concat(le(['u32', 12], ['u32', 4]), [1, 2, 3])),
      Errno.EINVAL,
      'short-payload',
    );
    expectProtocolError(
      () => dec(18, concat(le(['u32', 8], ['u32', 4]), [1, 2, 3, 4])),
      Errno.EINVAL,
      'bad-argsz',
    );
    expectProtocolError(() => dec(17, le(['u32', 8], ['u32', 4])), Errno.EINVAL, 'bad-argsz');
    expectProtocolError(() => dec(17, le(['u32', 9000], ['u32', 8192])), Errno.E2BIG, 'count-too-large');
    expectProtocolError(
      () => dec(17, concat(le(['u32', 16], ['u32', 8]), [1, 2]), 1),
      Errno.EINVAL,
      'short-payload',
    );
  });
});

describe('MIG_DATA_READ / MIG_DATA_WRITE encoding', () => {
  it('writes the head and data, and refuses data whose length is not size', () => {
    const read: Message = {
      kind: 'request',
      command: Command.MigDataRead,
      msgId: 1,
      body: { argsz: 12, size: 4 },
    };
    expect(toHex(encodeMessage(read))).toBe(
      toHex(rawMessage({ command: 17, payload: le(['u32', 12], ['u32', 4]) })),
    );
    const body = { argsz: 12, size: 4, data: Uint8Array.of(1, 2, 3) };
    expect(() => encodeMessage({ kind: 'reply', command: Command.MigDataRead, msgId: 1, body })).toThrow(
      'MIG_DATA_READ: data length differs from size',
    );
    expect(() => encodeMessage({ kind: 'request', command: Command.MigDataWrite, msgId: 1, body })).toThrow(
      'MIG_DATA_WRITE: data length differs from size',
    );
  });
});

describe('migration v2 state machine', () => {
  const S = MigDeviceState;
  const name = (s: number) => S[s];

  it("walks libvfio-user's next-hop table", () => {
    // [from, to, path]
    const table: [MigDeviceState, MigDeviceState, MigDeviceState[]][] = [
      [S.Stop, S.Running, [S.Running]],
      [S.Stop, S.StopCopy, [S.StopCopy]],
      [S.Stop, S.Resuming, [S.Resuming]],
      [S.Stop, S.PreCopy, [S.Running, S.PreCopy]],
      [S.Running, S.Stop, [S.Stop]],
      [S.Running, S.StopCopy, [S.Stop, S.StopCopy]],
      [S.Running, S.Resuming, [S.Stop, S.Resuming]],
      [S.Running, S.PreCopy, [S.PreCopy]],
      [S.StopCopy, S.Stop, [S.Stop]],
      [S.StopCopy, S.Running, [S.Stop, S.Running]],
      [S.StopCopy, S.Resuming, [S.Stop, S.Resuming]],
      [S.Resuming, S.Stop, [S.Stop]],
      [S.Resuming, S.Running, [S.Stop, S.Running]],
      [S.Resuming, S.StopCopy, [S.Stop, S.StopCopy]],
      [S.Resuming, S.PreCopy, [S.Stop, S.Running, S.PreCopy]],
      [S.PreCopy, S.Stop, [S.Running, S.Stop]],
      [S.PreCopy, S.Running, [S.Running]],
      [S.PreCopy, S.StopCopy, [S.StopCopy]],
      [S.PreCopy, S.Resuming, [S.Running, S.Stop, S.Resuming]],
    ];
    for (const [from, to, path] of table) {
      expect(migrationPath(from, to).map(name), `${name(from)} -> ${name(to)}`).toEqual(path.map(name));
    }
    expect(migrationPath(S.Running, S.Running)).toEqual([]);
  });

  it('rejects STOP_COPY -> PRE_COPY, ERROR, P2P states and PRE_COPY when unsupported', () => {
    expectProtocolError(() => migrationPath(S.StopCopy, S.PreCopy), Errno.EINVAL, 'bad-migration-transition');
    expectProtocolError(() => migrationPath(S.Running, S.Error), Errno.EINVAL);
    expectProtocolError(() => migrationPath(S.Error, S.Running), Errno.EINVAL);
    expectProtocolError(() => migrationPath(S.Running, S.RunningP2p), Errno.EINVAL);
    expectProtocolError(() => migrationPath(S.Running, 9), Errno.EINVAL);
    expectProtocolError(() => migrationPath(S.Running, S.PreCopy, { preCopy: false }), Errno.EINVAL);
    expect(migrationPath(S.Running, S.StopCopy, { preCopy: false })).toEqual([S.Stop, S.StopCopy]);
  });
});

describe('dirty bitmaps', () => {
  it('sizes bitmaps in whole u64 words and numbers pages LSB first', () => {
    expect(dirtyBitmapSize(0x1000n, 0x1000n)).toBe(8n);
    expect(dirtyBitmapSize(0x41000n, 0x1000n)).toBe(16n);
    expect(dirtyBitmapSize(1n, 0x1000n)).toBe(8n);
    const b = new Uint8Array(16);
    setPageDirty(b, 0);
    setPageDirty(b, 65);
    expect([...b]).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
    expect(isPageDirty(b, 65)).toBe(true);
    expect(isPageDirty(b, 64)).toBe(false);
    expect(isPageDirty(b, 1000)).toBe(false);
    expectProtocolError(() => setPageDirty(b, 128), Errno.EINVAL, 'bad-value');
    expect(DeviceFeatureIndex.DmaLoggingReport).toBe(8);
  });
});
