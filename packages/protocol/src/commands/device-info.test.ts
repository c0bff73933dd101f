import { describe, expect, it } from 'vitest';
import { concat, expectProtocolError, framed, le, rawMessage, roundTrip, toHex } from '../../test/helpers';
import { decodeMessage, encodeMessage, type Message } from '../codec';
import { Command } from '../command';
import { IoFdType, RegionCapId, RegionInfoFlags } from '../constants';
import { Errno } from '../errors';

const dec = (command: number, payload: Uint8Array | number[], flags = 0, fds: number[] = []) =>
  decodeMessage(framed(rawMessage({ command, flags, payload }), fds));

describe('DEVICE_GET_INFO', () => {
  it('decodes request and reply', () => {
    expect(dec(4, le(['u32', 16], ['u32', 0], ['u32', 0], ['u32', 0]))).toMatchObject({
      body: { argsz: 16 },
    });
    expect(dec(4, le(['u32', 16], ['u32', 3], ['u32', 9], ['u32', 5]), 1)).toMatchObject({
      body: { argsz: 16, flags: 3, numRegions: 9, numIrqs: 5 },
    });
  });

  it('rejects a header-only request, a small argsz and non-zero request fields', () => {
    expectProtocolError(() => dec(4, []), Errno.EINVAL, 'short-payload');
    expectProtocolError(
      () => dec(4, le(['u32', 8], ['u32', 0], ['u32', 0], ['u32', 0])),
      Errno.EINVAL,
      'bad-argsz',
    );
    expectProtocolError(
      () => dec(4, le(['u32', 16], ['u32', 1], ['u32', 0], ['u32', 0])),
      Errno.EINVAL,
      'bad-field',
    );
  });
});

describe('DEVICE_GET_REGION_INFO', () => {
  const head = (argsz: number, flags: number, index: number, capOffset: number, size: bigint) =>
    le(['u32', argsz], ['u32', flags], ['u32', index], ['u32', capOffset], ['u64', size], ['u64', 0n]);

  it("accepts libvfio-user's zero-padded request and keeps the padding", () => {
    const bytes = rawMessage({ command: 5, payload: concat(head(80, 0, 1, 0, 0n), new Uint8Array(48)) });
    const m = decodeMessage(framed(bytes));
    expect(m).toMatchObject({ body: { argsz: 80, index: 1 } });
    expect(toHex(encodeMessage(m))).toBe(toHex(bytes));
  });

  it('decodes a sparse-mmap capability chain and its fd', () => {
    const sparse = le(
      ['u16', 1],
      ['u16', 1],
      ['u32', 0],
      ['u32', 2],
      ['u32', 0],
      ['u64', 0n],
      ['u64', 0x1000n],
      ['u64', 0x2000n],
      ['u64', 0x1000n],
    );
    const m = dec(5, concat(head(80, 0xf, 1, 32, 0x4000n), sparse), 1, [9]);
    expect(m).toMatchObject({
      fds: [9],
      body: {
        flags: 0xf,
        size: 0x4000n,
        capabilities: [
          {
            id: RegionCapId.SparseMmap,
            version: 1,
            areas: [
              { offset: 0n, size: 0x1000n },
              { offset: 0x2000n, size: 0x1000n },
            ],
          },
        ],
      },
    });
  });

  it('decodes a TYPE capability following a sparse one, and an unknown one raw', () => {
    const reply: Message = {
      kind: 'reply',
      command: Command.DeviceGetRegionInfo,
      msgId: 1,
      body: {
        argsz: 32 + 32 + 16 + 12,
        flags: RegionInfoFlags.Read | RegionInfoFlags.Caps,
        index: 9,
        size: 0x1000n,
        offset: 0n,
        capabilities: [
          { id: RegionCapId.SparseMmap, version: 1, areas: [{ offset: 0n, size: 0x1000n }] },
          { id: RegionCapId.Type, version: 1, type: 0x8000_1af4, subtype: 1 },
          { id: 77, version: 2, data: Uint8Array.of(1, 2, 3, 4) },
        ],
      },
    };
    expect(roundTrip(reply)).toEqual({ ...reply, fds: [] });
  });

  it('accepts the truncated reply: MMAP without CAPS and without an fd, argsz = needed size', () => {
    const m = dec(5, head(80, 0x7, 1, 0, 0x4000n), 1);
    expect(m).toMatchObject({ body: { argsz: 80, flags: 7, capabilities: [] } });
  });

  it('reads CAPS with cap_offset 0 as no capabilities, and re-encodes what it decoded', () => {
    const m = dec(5, head(80, 0xf, 1, 0, 0x4000n), 1, [9]);
    expect(m).toMatchObject({ body: { flags: 0x7, capabilities: [] } });
    expect(roundTrip(m)).toEqual(m);
  });

  it('rejects broken capability chains', () => {
    const cap = (next: number) => le(['u16', 2], ['u16', 1], ['u32', next], ['u32', 1], ['u32', 1]);
    // Capability pointing back at itself.
    expectProtocolError(
      () => dec(5, concat(head(64, 8, 9, 32, 1n), cap(32), cap(0)), 1),
      Errno.EINVAL,
      'bad-field',
    );
    // cap_offset inside the fixed struct.
    expectProtocolError(() => dec(5, concat(head(48, 8, 9, 16, 1n), cap(0)), 1), Errno.EINVAL, 'bad-field');
    // cap_offset past the payload.
    expectProtocolError(() => dec(5, head(48, 8, 9, 40, 1n), 1), Errno.EINVAL, 'short-payload');
    // Sparse area outside the region.
    const sparse = le(
      ['u16', 1],
      ['u16', 1],
      ['u32', 0],
      ['u32', 1],
      ['u32', 0],
      ['u64', 0x800n],
      ['u64', 0x1000n],
    );
    expectProtocolError(
      () => dec(5, concat(head(64, 8, 0, 32, 0x1000n), sparse), 1),
      Errno.EINVAL,
      'bad-field',
    );
    // nr_areas larger than the capability.
    const lying = le(['u16', 1], ['u16', 1], ['u32', 0], ['u32', 1000], ['u32', 0]);
    expectProtocolError(
      () => dec(5, concat(head(48, 8, 0, 32, 0x1000n), lying), 1),
      Errno.EINVAL,
      'bad-field',
    );
  });

  it('rejects an fd without MMAP, CAPS bytes without the flag, and argsz below the reply', () => {
    expectProtocolError(() => dec(5, head(32, 3, 0, 0, 1n), 1, [4]), Errno.EINVAL, 'bad-fds');
    expectProtocolError(
      () => dec(5, concat(head(48, 3, 0, 0, 1n), new Uint8Array(16)), 1),
      Errno.EINVAL,
      'trailing-bytes',
    );
    expectProtocolError(
      () =>
        dec(
          5,
          concat(head(40, 8, 0, 32, 1n), le(['u16', 2], ['u16', 1], ['u32', 0], ['u32', 1], ['u32', 1])),
          1,
        ),
      Errno.EINVAL,
      'bad-argsz',
    );
  });
});

describe('DEVICE_GET_REGION_IO_FDS', () => {
  const head = (argsz: number, index: number, count: number) =>
    le(['u32', argsz], ['u32', 0], ['u32', index], ['u32', count]);

  it("decodes libvfio-user's 48-byte shadow ioeventfd entry with two fds", () => {
    const entry = le(
      ['u64', 0n],
      ['u64', 4n],
      ['u32', 0],
      ['u32', 2],
      ['u32', 0],
      ['u32', 1],
      ['u64', 0n],
      ['u64', 0n],
    );
    const m = dec(6, concat(head(64, 0, 1), entry), 1, [10, 11]);
    expect(m).toMatchObject({
      body: {
        count: 1,
        entrySize: 48,
        subRegions: [{ size: 4n, type: IoFdType.IoeventfdShadow, shadowMemFdIndex: 1 }],
      },
    });
  });

  it("decodes the spec's 40-byte entries and round-trips them", () => {
    const reply: Message = {
      kind: 'reply',
      command: Command.DeviceGetRegionIoFds,
      msgId: 3,
      fds: [5],
      body: {
        argsz: 96,
        index: 2,
        count: 2,
        entrySize: 40,
        subRegions: [
          { offset: 0n, size: 4n, fdIndex: 0, type: IoFdType.Ioeventfd, flags: 1, datamatch: 0xabn },
          { offset: 8n, size: 0n, fdIndex: 0, type: IoFdType.Ioregionfd, flags: 2, datamatch: 7n },
        ],
      },
    };
    expect(roundTrip(reply)).toEqual(reply);
  });

  it('accepts a count-0 reply without fds and a truncated reply', () => {
    expect(dec(6, head(16, 2, 0), 1)).toMatchObject({ body: { count: 0, subRegions: [] } });
    expect(dec(6, head(64, 0, 1), 1)).toMatchObject({ body: { argsz: 64, count: 1, subRegions: [] } });
  });

  it('rejects entries of another size, fd indexes beyond the fds, and requests with a count', () => {
    expectProtocolError(
      () => dec(6, concat(head(60, 0, 1), new Uint8Array(44)), 1, [1]),
      Errno.EINVAL,
      'bad-field',
    );
    const entry = le(['u64', 0n], ['u64', 4n], ['u32', 3], ['u32', 0], ['u32', 0], ['u32', 0], ['u64', 0n]);
    expectProtocolError(() => dec(6, concat(head(56, 0, 1), entry), 1, [1]), Errno.EINVAL, 'bad-fds');
    expectProtocolError(() => dec(6, concat(head(56, 0, 1), entry), 1), Errno.EINVAL, 'bad-fds');
    expectProtocolError(() => dec(6, head(16, 0, 1)), Errno.EINVAL, 'bad-field');
  });
});

describe('DEVICE_GET_IRQ_INFO', () => {
  it('decodes request and reply', () => {
    expect(dec(7, le(['u32', 16], ['u32', 0], ['u32', 2], ['u32', 0]))).toMatchObject({
      body: { argsz: 16, index: 2 },
    });
    expect(dec(7, le(['u32', 16], ['u32', 9], ['u32', 2], ['u32', 2048]), 1)).toMatchObject({
      body: { flags: 9, index: 2, count: 2048 },
    });
  });

  it('rejects unknown reply flags and request counts', () => {
    expectProtocolError(
      () => dec(7, le(['u32', 16], ['u32', 0x10], ['u32', 0], ['u32', 1]), 1),
      Errno.EINVAL,
      'bad-field',
    );
    expectProtocolError(
      () => dec(7, le(['u32', 16], ['u32', 0], ['u32', 0], ['u32', 1])),
      Errno.EINVAL,
      'bad-field',
    );
  });
});

describe('DEVICE_SET_IRQS', () => {
  const set = (flags: number, index: number, start: number, count: number, argsz = 20) =>
    le(['u32', argsz], ['u32', flags], ['u32', index], ['u32', start], ['u32', count]);

  it('decodes every action with every data type', () => {
    for (const [a, action] of [
      [0x08, 'mask'],
      [0x10, 'unmask'],
      [0x20, 'trigger'],
    ] as const) {
      expect(dec(8, set(a | 1, 1, 0, 2))).toMatchObject({ body: { action, dataType: 'none', count: 2 } });
      expect(dec(8, concat(set(a | 2, 1, 0, 2, 22), [1, 0]))).toMatchObject({
        body: { action, dataType: 'bool' },
      });
      expect(dec(8, set(a | 4, 2, 4, 2), 0, [5, 6])).toMatchObject({
        body: { action, dataType: 'eventfd', start: 4 },
        fds: [5, 6],
      });
    }
  });

  it('accepts eventfd de-assignment without fds and the disable-all form', () => {
    expect(dec(8, set(0x24, 0, 0, 1))).toMatchObject({ body: { dataType: 'eventfd' }, fds: [] });
    expect(dec(8, set(0x21, 0, 0, 0))).toMatchObject({ body: { count: 0 } });
  });

  it('rejects malformed action and data bits, counts and fds with EINVAL', () => {
    expectProtocolError(() => dec(8, set(0x18 | 1, 0, 0, 1)), Errno.EINVAL, 'bad-field');
    expectProtocolError(() => dec(8, set(0x20 | 3, 0, 0, 1)), Errno.EINVAL, 'bad-field');
    expectProtocolError(() => dec(8, set(0x20, 0, 0, 1)), Errno.EINVAL, 'bad-field');
    expectProtocolError(() => dec(8, set(0x40 | 0x21, 0, 0, 1)), Errno.EINVAL, 'bad-field');
    expectProtocolError(() => dec(8, set(0x21, 0, 1, 0)), Errno.EINVAL, 'bad-field');
    expectProtocolError(() => dec(8, set(0x24, 0, 0, 0)), Errno.EINVAL, 'bad-field');
    expectProtocolError(() => dec(8, set(0x24, 0, 0, 2), 0, [1]), Errno.EINVAL, 'bad-fds');
    expectProtocolError(() => dec(8, set(0x21, 0, 0, 1), 0, [1]), Errno.EINVAL, 'bad-fds');
    expectProtocolError(() => dec(8, concat(set(0x22, 0, 0, 2, 22), [1])), Errno.EINVAL, 'short-payload');
    expectProtocolError(() => dec(8, concat(set(0x22, 0, 0, 2, 20), [1, 1])), Errno.EINVAL, 'bad-argsz');
    expectProtocolError(() => dec(8, set(0x21, 0, 0xffff_ffff, 2)), Errno.EINVAL, 'bad-field');
  });

  it('round-trips a DATA_BOOL request', () => {
    const m: Message = {
      kind: 'request',
      command: Command.DeviceSetIrqs,
      msgId: 1,
      body: {
        argsz: 23,
        action: 'unmask',
        dataType: 'bool',
        index: 1,
        start: 0,
        count: 3,
        data: Uint8Array.of(1, 0, 1),
      },
    };
    expect(roundTrip(m)).toEqual({ ...m, fds: [] });
  });
});

describe('DEVICE_RESET', () => {
  it('is header-only both ways', () => {
    expect(dec(13, [])).toEqual({
      kind: 'request',
      command: Command.DeviceReset,
      msgId: 1,
      body: {},
      fds: [],
    });
    expect(encodeMessage({ kind: 'reply', command: Command.DeviceReset, msgId: 1, body: {} }).length).toBe(
      16,
    );
    expectProtocolError(() => dec(13, [0]), Errno.EINVAL, 'trailing-bytes');
    expectProtocolError(() => dec(13, [], 0, [3]), Errno.EINVAL, 'bad-fds');
  });
});
