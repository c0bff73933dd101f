import { describe, expect, it } from 'vitest';
import { concat, expectProtocolError, framed, le, rawMessage, roundTrip, toHex } from '../../test/helpers';
import { decodeMessage, encodeMessage, type Message, messageSize } from '../codec';
import { Command } from '../command';
import { Errno } from '../errors';

const access = (offset: bigint, region: number, count: number) =>
  le(['u64', offset], ['u32', region], ['u32', count]);
const dec = (command: number, payload: Uint8Array | number[], flags = 0) =>
  decodeMessage(framed(rawMessage({ command, flags, payload })), { maxDataXferSize: 1024 });

describe('REGION_READ', () => {
  it('decodes a config-space read and its reply, the data a view onto the received bytes', () => {
    expect(dec(9, access(0n, 7, 4))).toMatchObject({ body: { offset: 0n, region: 7, count: 4 } });
    const bytes = rawMessage({
      command: 9,
      flags: 1,
      payload: concat(access(0n, 7, 4), [0x4f, 0x49, 0xc8, 0x0d]),
    });
    const m = decodeMessage(framed(bytes));
    const data =
      m.kind === 'reply' && m.command === Command.RegionRead && m.body.form === undefined
        ? m.body.data
        : undefined;
    expect(data?.buffer).toBe(bytes.buffer);
    expect(data?.byteOffset).toBe(32);
  });

  it("accepts libvfio-user's empty reply to a count-0 read", () => {
    expect(dec(9, [], 1)).toMatchObject({ body: { form: 'header-only' } });
  });

  it('rejects a reply whose data disagrees with count, and oversize counts with E2BIG', () => {
    expectProtocolError(() => dec(9, concat(access(0n, 7, 4), [1, 2]), 1), Errno.EINVAL, 'short-payload');
    expectProtocolError(() => dec(9, concat(access(0n, 7, 1), [1, 2]), 1), Errno.EINVAL, 'trailing-bytes');
    expectProtocolError(() => dec(9, access(0n, 0, 4096)), Errno.E2BIG, 'count-too-large');
    expectProtocolError(() => dec(9, access(0xffff_ffff_ffff_fffen, 0, 4)), Errno.EINVAL, 'bad-field');
    expectProtocolError(() => dec(9, concat(access(0n, 7, 4), [0])), Errno.EINVAL, 'trailing-bytes');
  });

  it('encodes a reply into a reused buffer', () => {
    const dest = new Uint8Array(64).fill(0xff);
    const reply: Message = {
      kind: 'reply',
      command: Command.RegionRead,
      msgId: 0x10,
      body: { offset: 4n, region: 0, count: 2, data: Uint8Array.of(0xaa, 0xbb) },
    };
    const out = encodeMessage(reply, dest);
    expect(toHex(out)).toBe(`10000900220000000100000000000000${'0400000000000000'}0000000002000000aabb`);
    expect(messageSize(reply)).toBe(34);
    expect(() => encodeMessage(reply, new Uint8Array(33))).toThrow(/needs 34 bytes/);
  });
});

describe('REGION_READ / REGION_WRITE encoding', () => {
  it('refuses data whose length is not count, naming the command', () => {
    const body = { offset: 0n, region: 0, count: 2, data: Uint8Array.of(1) };
    const cases: [Message, string][] = [
      [{ kind: 'reply', command: Command.RegionRead, msgId: 1, body }, 'REGION_READ'],
      [{ kind: 'request', command: Command.RegionWrite, msgId: 1, body }, 'REGION_WRITE'],
    ];
    for (const [m, name] of cases) {
      expect(() => encodeMessage(m)).toThrow(`${name}: data length differs from count`);
    }
  });
});

describe('REGION_WRITE', () => {
  it('decodes a write with its data and the reply', () => {
    const m = dec(10, concat(access(0x10n, 7, 4), [0xff, 0xff, 0xff, 0xff]));
    expect(m.kind === 'request' && m.command === Command.RegionWrite && [...m.body.data]).toEqual([
      255, 255, 255, 255,
    ]);
    expect(dec(10, access(0x10n, 7, 4), 1)).toMatchObject({ kind: 'reply', body: { count: 4 } });
  });

  it('rejects a data length other than count and a posted reply', () => {
    expectProtocolError(() => dec(10, concat(access(0n, 0, 4), [1, 2, 3])), Errno.EINVAL, 'short-payload');
    expectProtocolError(() => dec(10, concat(access(0n, 0, 2), [1, 2, 3])), Errno.EINVAL, 'trailing-bytes');
    expectProtocolError(() => dec(10, concat(access(0n, 0, 2), [1, 2]), 0x11), Errno.EINVAL, 'bad-flags');
  });

  it('keeps No_reply for posted writes', () => {
    const m: Message = {
      kind: 'request',
      command: Command.RegionWrite,
      msgId: 1,
      noReply: true,
      body: { offset: 0n, region: 2, count: 1, data: Uint8Array.of(7) },
    };
    expect(roundTrip(m)).toEqual({ ...m, fds: [] });
  });

  it('refuses to encode data that disagrees with count', () => {
    expectProtocolError(
      () =>
        encodeMessage({
          kind: 'request',
          command: Command.RegionWrite,
          msgId: 1,
          body: { offset: 0n, region: 2, count: 2, data: Uint8Array.of(7) },
        }),
      Errno.EINVAL,
      'bad-value',
    );
  });
});

describe('REGION_WRITE_MULTI', () => {
  it("decodes QEMU's coalesced writes", () => {
    const entry = (off: bigint, count: number, data: number[]) =>
      concat(access(off, 0, count), data, new Uint8Array(8 - data.length));
    const m = dec(15, concat(le(['u64', 2n]), entry(0n, 4, [1, 2, 3, 4]), entry(8n, 1, [9])));
    expect(
      m.kind === 'request' &&
        m.command === Command.RegionWriteMulti &&
        m.body.writes.map((w) => [w.offset, [...w.data]]),
    ).toEqual([
      [0n, [1, 2, 3, 4]],
      [8n, [9]],
    ]);
    expect(dec(15, le(['u64', 2n]), 1)).toMatchObject({ body: { wrCnt: 2n } });
  });

  it('rejects a wr_cnt that disagrees with the payload and data counts above 8', () => {
    expectProtocolError(
      () => dec(15, concat(le(['u64', 2n]), new Uint8Array(24))),
      Errno.EINVAL,
      'bad-field',
    );
    expectProtocolError(() => dec(15, le(['u64', 0n])), Errno.EINVAL, 'bad-field');
    expectProtocolError(
      () => dec(15, concat(le(['u64', 1n]), access(0n, 0, 9), new Uint8Array(8))),
      Errno.EINVAL,
      'bad-field',
    );
    // A huge wr_cnt is refused from the payload size, before any allocation.
    expectProtocolError(
      () => dec(15, concat(le(['u64', 0xffff_ffff_ffffn]), new Uint8Array(24))),
      Errno.EINVAL,
      'bad-field',
    );
  });
});
