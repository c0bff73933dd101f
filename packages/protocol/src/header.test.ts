import { describe, expect, it } from 'vitest';
import { expectProtocolError, rawMessage, toHex } from '../test/helpers';
import { Errno } from './errors';
import { decodeHeader, encodeHeader, HEADER_SIZE } from './header';

describe('message header', () => {
  it('decodes the fields of a little-endian header', () => {
    const h = decodeHeader(
      rawMessage({ msgId: 0xabcd, command: 5, flags: 0x10, payload: new Uint8Array(32) }),
    );
    expect(h).toEqual({
      msgId: 0xabcd,
      command: 5,
      msgSize: 48,
      flags: 0x10,
      errorNo: 0,
      type: 'command',
      noReply: true,
      error: false,
    });
  });

  it('decodes an error reply', () => {
    const h = decodeHeader(rawMessage({ msgId: 7, command: 9, flags: 0x21, errorNo: 22 }));
    expect(h).toMatchObject({ type: 'reply', error: true, errorNo: 22, msgSize: HEADER_SIZE });
  });

  it('encodes what it decodes, into a caller buffer at its start', () => {
    const dest = new Uint8Array(64).fill(0xee);
    const out = encodeHeader(
      { msgId: 0x1234, command: 2, msgSize: 48, type: 'command', noReply: true },
      dest,
    );
    expect(out.buffer).toBe(dest.buffer);
    expect(toHex(out)).toBe('3412020030000000100000000000000000'.slice(0, 32));
    expect(dest[16]).toBe(0xee);
    expect(decodeHeader(out)).toMatchObject({ msgId: 0x1234, command: 2, msgSize: 48, noReply: true });
  });

  it('rejects fewer than 16 bytes', () => {
    expectProtocolError(() => decodeHeader(new Uint8Array(15)), Errno.EINVAL, 'short-header');
  });

  it('rejects msg_size below the header size', () => {
    expectProtocolError(
      () => decodeHeader(rawMessage({ command: 1, msgSize: 8 })),
      Errno.EINVAL,
      'bad-message-size',
    );
  });

  it('rejects type values other than command and reply', () => {
    const e = expectProtocolError(
      () => decodeHeader(rawMessage({ command: 1, flags: 2 })),
      Errno.EINVAL,
      'bad-flags',
    );
    expect(e.field).toBe('flags');
  });

  it('rejects reserved flag bits', () => {
    expectProtocolError(
      () => decodeHeader(rawMessage({ command: 1, flags: 0x40 })),
      Errno.EINVAL,
      'bad-flags',
    );
  });

  it('rejects No_reply on a reply and Error on a command', () => {
    expectProtocolError(
      () => decodeHeader(rawMessage({ command: 1, flags: 0x11 })),
      Errno.EINVAL,
      'bad-flags',
    );
    expectProtocolError(
      () => decodeHeader(rawMessage({ command: 1, flags: 0x20 })),
      Errno.EINVAL,
      'bad-flags',
    );
  });

  it('rejects an error reply with a payload', () => {
    expectProtocolError(
      () => decodeHeader(rawMessage({ command: 1, flags: 0x21, payload: [1, 2, 3, 4] })),
      Errno.EINVAL,
      'bad-message-size',
    );
  });

  it('refuses to encode out-of-range fields or into a short buffer', () => {
    expectProtocolError(
      () => encodeHeader({ msgId: 0x10000, command: 1, msgSize: 16, type: 'command' }),
      Errno.EINVAL,
      'bad-value',
    );
    expectProtocolError(
      () => encodeHeader({ msgId: 1, command: 1, msgSize: 16, type: 'command' }, new Uint8Array(8)),
      Errno.ENOSPC,
      'buffer-too-small',
    );
  });
});
