import { describe, expect, it } from 'vitest';
import { concat, expectProtocolError, framed, le, rawMessage, roundTrip, toHex } from '../../test/helpers';
import { decodeMessage, encodeMessage } from '../codec';
import { Command } from '../command';
import { Errno } from '../errors';

const json = (s: string) => concat(new TextEncoder().encode(s), [0]);

describe('VERSION', () => {
  it("decodes libvfio-user's pretty-printed reply and keeps the text for re-encoding", () => {
    const text = '{ "capabilities": { "max_msg_fds": 8, "max_data_xfer_size": 1048576 } }';
    const bytes = rawMessage({
      command: 1,
      flags: 1,
      payload: concat(le(['u16', 0], ['u16', 2]), json(text)),
    });
    const m = decodeMessage(framed(bytes));
    expect(m).toMatchObject({
      kind: 'reply',
      command: Command.Version,
      body: { major: 0, minor: 2, json: text, capabilities: { maxMsgFds: 8, maxDataXferSize: 1048576 } },
    });
    expect(toHex(encodeMessage(m))).toBe(toHex(bytes));
  });

  it('encodes capabilities as compact JSON with a NUL', () => {
    const bytes = encodeMessage({
      kind: 'request',
      command: Command.Version,
      msgId: 1,
      body: { major: 0, minor: 0, capabilities: { maxMsgFds: 16 } },
    });
    expect(new TextDecoder().decode(bytes.subarray(20))).toBe('{"capabilities":{"max_msg_fds":16}}\0');
  });

  it('accepts a VERSION without any JSON', () => {
    const m = roundTrip({
      kind: 'request',
      command: Command.Version,
      msgId: 1,
      body: { major: 0, minor: 0 },
    });
    expect(m).toMatchObject({ body: { major: 0, minor: 0 } });
  });

  it('accepts the twin-socket fd named by fd_index in a reply', () => {
    const m = roundTrip({
      kind: 'reply',
      command: Command.Version,
      msgId: 1,
      body: { major: 0, minor: 2, capabilities: { twinSocket: { supported: true, fdIndex: 0 } } },
      fds: [42],
    });
    expect(m.kind === 'reply' && m.fds).toEqual([42]);
  });

  it('rejects JSON without its NUL terminator', () => {
    const bytes = rawMessage({
      command: 1,
      payload: concat(le(['u16', 0], ['u16', 0]), new TextEncoder().encode('{}')),
    });
    expectProtocolError(() => decodeMessage(framed(bytes)), Errno.EINVAL, 'bad-json');
  });

  it('rejects malformed JSON, invalid UTF-8 and bad capability types', () => {
    const v = (p: Uint8Array) => rawMessage({ command: 1, payload: concat(le(['u16', 0], ['u16', 0]), p) });
    expectProtocolError(() => decodeMessage(framed(v(json('{"capabilities":')))), Errno.EINVAL, 'bad-json');
    expectProtocolError(
      () => decodeMessage(framed(v(Uint8Array.of(0xff, 0xfe, 0)))),
      Errno.EINVAL,
      'bad-json',
    );
    expectProtocolError(
      () => decodeMessage(framed(v(json('{"capabilities":{"max_msg_fds":"8"}}')))),
      Errno.EINVAL,
      'bad-json',
    );
  });

  it('rejects a short payload and fds on the request', () => {
    expectProtocolError(
      () => decodeMessage(framed(rawMessage({ command: 1, payload: [0, 0] }))),
      Errno.EINVAL,
      'short-payload',
    );
    expectProtocolError(
      () => decodeMessage(framed(rawMessage({ command: 1, payload: le(['u16', 0], ['u16', 0]) }), [3])),
      Errno.EINVAL,
      'bad-fds',
    );
  });

  it('rejects a reply fd that twin_socket does not name', () => {
    const bytes = rawMessage({
      command: 1,
      flags: 1,
      payload: concat(le(['u16', 0], ['u16', 0]), json('{}')),
    });
    expectProtocolError(() => decodeMessage(framed(bytes, [5])), Errno.EINVAL, 'bad-fds');
  });
});
