import { describe, expect, it } from 'vitest';
import { concat, le, rawMessage, toHex } from '../test/helpers';
import { decodeMessage, encodeErrorReply, errorReplyFor } from './codec';
import { Errno } from './errors';
import { MessageFramer } from './framer';

/**
 * Hand-packed bad messages, each with the one errno its error reply must carry, in the manner of
 * libvfio-user's request-error tests. Every case is followed on the same stream by a valid
 * DEVICE_GET_INFO, which must still decode (the connection survives), and every fd sent with a
 * rejected message must be handed back for closing.
 */
interface Case {
  name: string;
  bytes: Uint8Array;
  fds?: number[];
  errno: number;
  /** Rejected by the framer (true) or by the decoder (false). */
  framer?: boolean;
}

const getInfo = le(['u32', 16], ['u32', 0], ['u32', 0], ['u32', 0]);
const GOOD = rawMessage({ msgId: 0x600d, command: 4, payload: getInfo });

const CASES: Case[] = [
  {
    name: 'type bits 2',
    bytes: rawMessage({ command: 4, flags: 2, payload: getInfo }),
    errno: Errno.EINVAL,
    framer: true,
  },
  {
    name: 'reserved flag bit',
    bytes: rawMessage({ command: 4, flags: 0x100, payload: getInfo }),
    errno: Errno.EINVAL,
    framer: true,
  },
  {
    name: 'Error flag on a command',
    bytes: rawMessage({ command: 4, flags: 0x20, payload: getInfo }),
    errno: Errno.EINVAL,
    framer: true,
  },
  {
    name: 'oversize message',
    bytes: rawMessage({ command: 10, payload: new Uint8Array(2000) }),
    errno: Errno.E2BIG,
    framer: true,
  },
  {
    name: 'too many fds',
    bytes: rawMessage({ command: 2, payload: new Uint8Array(32) }),
    fds: [1, 2, 3],
    errno: Errno.EINVAL,
    framer: true,
  },
  {
    name: 'unknown command 99',
    bytes: rawMessage({ command: 99, payload: [0, 0, 0, 0] }),
    errno: Errno.EINVAL,
  },
  {
    name: 'unassigned command 14',
    bytes: rawMessage({ command: 14, payload: le(['u32', 8], ['u32', 1]) }),
    errno: Errno.EINVAL,
  },
  { name: 'command 0', bytes: rawMessage({ command: 0 }), errno: Errno.EINVAL },
  { name: 'header-only GET_INFO', bytes: rawMessage({ command: 4 }), errno: Errno.EINVAL },
  { name: 'header-only DMA_MAP', bytes: rawMessage({ command: 2 }), errno: Errno.EINVAL },
  {
    name: 'short DMA_MAP',
    bytes: rawMessage({ command: 2, payload: new Uint8Array(31) }),
    errno: Errno.EINVAL,
  },
  {
    name: 'DMA_MAP argsz 16',
    bytes: rawMessage({
      command: 2,
      payload: le(['u32', 16], ['u32', 1], ['u64', 0n], ['u64', 0n], ['u64', 1n]),
    }),
    errno: Errno.EINVAL,
  },
  {
    name: 'fd on GET_INFO',
    bytes: rawMessage({ command: 4, payload: getInfo }),
    fds: [7],
    errno: Errno.EINVAL,
  },
  {
    name: 'fd on REGION_READ',
    bytes: rawMessage({ command: 9, payload: le(['u64', 0n], ['u32', 7], ['u32', 4]) }),
    fds: [7],
    errno: Errno.EINVAL,
  },
  {
    name: 'REGION_WRITE count above payload',
    bytes: rawMessage({ command: 10, payload: concat(le(['u64', 0n], ['u32', 7], ['u32', 8]), [1]) }),
    errno: Errno.EINVAL,
  },
  {
    name: 'REGION_READ count above max_data_xfer_size',
    bytes: rawMessage({ command: 9, payload: le(['u64', 0n], ['u32', 0], ['u32', 1 << 20]) }),
    errno: Errno.E2BIG,
  },
  {
    name: 'DMA_UNMAP flags 3',
    bytes: rawMessage({ command: 3, payload: le(['u32', 24], ['u32', 3], ['u64', 0n], ['u64', 0n]) }),
    errno: Errno.EINVAL,
  },
  {
    name: 'SET_IRQS two actions',
    bytes: rawMessage({
      command: 8,
      payload: le(['u32', 20], ['u32', 0x31], ['u32', 0], ['u32', 0], ['u32', 1]),
    }),
    errno: Errno.EINVAL,
  },
  {
    name: 'REGION_INFO argsz 16',
    bytes: rawMessage({ command: 5, payload: concat(le(['u32', 16]), new Uint8Array(28)) }),
    errno: Errno.EINVAL,
  },
  {
    name: 'VERSION JSON without NUL',
    bytes: rawMessage({ command: 1, payload: concat(le(['u16', 0], ['u16', 2]), [0x7b, 0x7d]) }),
    errno: Errno.EINVAL,
  },
  {
    name: 'DEVICE_FEATURE without op',
    bytes: rawMessage({ command: 16, payload: le(['u32', 16], ['u32', 1]) }),
    errno: Errno.EINVAL,
  },
  {
    name: 'MIG_DATA_WRITE short data',
    bytes: rawMessage({ command: 18, payload: concat(le(['u32', 16], ['u32', 8]), [1]) }),
    errno: Errno.EINVAL,
  },
  {
    name: 'DEVICE_RESET with payload',
    bytes: rawMessage({ command: 13, payload: [0, 0, 0, 0] }),
    errno: Errno.EINVAL,
  },
  {
    name: 'error reply with fds',
    bytes: rawMessage({ command: 4, flags: 0x21, errorNo: 22 }),
    fds: [4],
    errno: Errno.EINVAL,
  },
];

describe('malformed messages', () => {
  for (const c of CASES) {
    it(`${c.name}: EINVAL-style reply ${c.errno}, fds returned, stream still usable`, () => {
      const framer = new MessageFramer({ maxMessageSize: 1024, maxFdsPerMessage: 2 });
      framer.push(c.bytes, c.fds ?? []);
      framer.push(GOOD);
      const first = framer.next();
      let errno: number | undefined;
      let returnedFds: readonly number[] = [];
      if (first?.kind === 'error') {
        expect(c.framer, `framer rejected: ${first.error.message}`).toBe(true);
        expect(first.resync).toBe(true);
        errno = first.error.errno;
        returnedFds = first.fds;
      } else {
        expect(c.framer ?? false, 'the framer should have rejected it').toBe(false);
        expect(first?.kind).toBe('message');
        if (first?.kind !== 'message') return;
        returnedFds = first.message.fds;
        try {
          decodeMessage(first.message, { maxDataXferSize: 1024 * 64 });
          expect.unreachable('decoded a malformed message');
        } catch (e) {
          errno = (e as { errno?: number }).errno;
        }
      }
      expect(errno).toBe(c.errno);
      expect([...returnedFds]).toEqual(c.fds ?? []);
      const next = framer.next();
      expect(next?.kind).toBe('message');
      if (next?.kind === 'message') expect(decodeMessage(next.message).msgId).toBe(0x600d);
    });
  }
});

describe('error replies', () => {
  const header = {
    msgId: 0x63,
    command: 99,
    msgSize: 20,
    type: 'command',
    noReply: false,
    error: false,
    errorNo: 0,
    flags: 0,
  } as const;

  it('answers an unknown command with a header-only error reply', () => {
    expect(toHex(encodeErrorReply(header, Errno.EINVAL) ?? new Uint8Array())).toBe(
      '63006300100000002100000016000000',
    );
  });

  it('takes the errno of a ProtocolError', () => {
    let err: unknown;
    try {
      decodeMessage({ header: { ...header, command: 9, msgSize: 16 }, payload: new Uint8Array(), fds: [] });
    } catch (e) {
      err = e;
    }
    expect(errorReplyFor(header, err as never)).toEqual({
      kind: 'error',
      command: 99,
      msgId: 0x63,
      errorNo: Errno.EINVAL,
    });
  });

  it('sends nothing for a No_reply command or a reply', () => {
    expect(errorReplyFor({ ...header, noReply: true }, Errno.EINVAL)).toBeUndefined();
    expect(errorReplyFor({ ...header, type: 'reply' }, Errno.EINVAL)).toBeUndefined();
  });
});
