/**
 * The codec, every command in both directions: a header and payload decoded as the server (client
 * messages) or the client (server messages) would. Invariants: decoding returns a message or throws
 * a ProtocolError with a known code and an errno; a decoded message describes, sizes and encodes
 * without error, and decoding its encoding gives the same message back.
 */
import {
  decodeHeader,
  decodeMessage,
  describe,
  encodeMessage,
  type FramedMessage,
  HEADER_SIZE,
  type Message,
  messageSize,
} from '@vfu/protocol';
import { Finding, type FuzzTarget } from '../engine/target';
import { capturedMessages, fixSize, mutateMessage } from '../vfio-user-input';
import { expectProtocolError, sameValue } from './shared';

/** Control byte: decode as the client (server-to-client messages). */
const AS_CLIENT = 0x01;
/** Control byte: keep msg_size as given rather than the real length. */
const RAW_SIZE = 0x02;
/** Control byte: apply a 4 KiB max_data_xfer_size. */
const SMALL_XFER = 0x20;

function decodeInput(input: Uint8Array): { framed: FramedMessage; control: number } | undefined {
  if (input.length < 1 + HEADER_SIZE) return undefined;
  const control = input[0] as number;
  const raw = input.subarray(1);
  const bytes = (control & RAW_SIZE) !== 0 ? raw : fixSize(raw);
  let header: ReturnType<typeof decodeHeader>;
  try {
    header = decodeHeader(bytes);
  } catch (e) {
    expectProtocolError(e, 'decodeHeader');
    return undefined;
  }
  const nfds = (control >> 2) & 0x7;
  const fds = Array.from({ length: nfds }, (_, i) => 100 + i);
  return { framed: { header, payload: bytes.subarray(HEADER_SIZE), fds }, control };
}

function checkRoundTrip(m: Message, role: 'client' | 'server', options: { maxDataXferSize?: number }): void {
  let bytes: Uint8Array;
  try {
    describe(m);
    bytes = encodeMessage(m);
  } catch (e) {
    throw new Finding(`a decoded ${m.kind} of command ${m.command} does not describe or encode`, {
      cause: e,
    });
  }
  if (bytes.length !== messageSize(m)) {
    throw new Finding(
      `messageSize ${messageSize(m)} but ${bytes.length} bytes encoded (command ${m.command})`,
    );
  }
  let again: Message;
  try {
    again = decodeMessage(
      {
        header: decodeHeader(bytes),
        payload: bytes.subarray(HEADER_SIZE),
        fds: [...(m.kind === 'error' ? [] : (m.fds ?? []))],
      },
      { role, ...options },
    );
  } catch (e) {
    throw new Finding(`the encoding of a decoded ${m.kind} of command ${m.command} does not decode`, {
      cause: e,
    });
  }
  if (!sameValue(m, again)) {
    throw new Finding(`${m.kind} of command ${m.command} changes through encode and decode`);
  }
}

export function codecTarget(): FuzzTarget {
  const captured = capturedMessages();
  const pool = captured.map((c) => c.bytes);
  return {
    name: 'codec',
    description: 'decodeMessage of every command both ways; errors typed, decoded messages round-trip',
    scope: ['/packages/protocol/src/'],
    maxLen: 1024,
    stateless: true,
    seeds: () =>
      captured.map((c) => {
        const control = (c.dir === 's2c' ? AS_CLIENT : 0) | (Math.min(c.nfds, 7) << 2);
        const out = new Uint8Array(1 + c.bytes.length);
        out[0] = control;
        out.set(c.bytes, 1);
        return out;
      }),
    run(input) {
      const decoded = decodeInput(input);
      if (decoded === undefined) return;
      const { framed, control } = decoded;
      const role = (control & AS_CLIENT) !== 0 ? 'client' : 'server';
      const options = (control & SMALL_XFER) !== 0 ? { maxDataXferSize: 4096 } : {};
      let m: Message;
      try {
        m = decodeMessage(framed, { role, ...options });
      } catch (e) {
        expectProtocolError(e, 'decodeMessage');
        return;
      }
      checkRoundTrip(m, role, options);
    },
    mutate(input, ctx) {
      if (input.length < 1) return undefined;
      if (ctx.rng.oneIn(8)) {
        const out = input.slice();
        out[0] = ctx.rng.below(256);
        return out;
      }
      const body = mutateMessage(input.subarray(1), { ...ctx, maxLen: ctx.maxLen - 1 }, pool);
      const out = new Uint8Array(1 + body.length);
      out[0] = input[0] as number;
      out.set(body, 1);
      return out;
    },
  };
}
