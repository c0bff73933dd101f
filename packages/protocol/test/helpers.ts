import { expect } from 'vitest';
import {
  type DecodeMessageOptions,
  decodeHeader,
  decodeMessage,
  encodeMessage,
  type FramedMessage,
  isProtocolError,
  type Message,
  type ProtocolError,
  type ProtocolErrorCode,
} from '../src/index';

/** A FramedMessage over whole message bytes, as the framer would hand it out. */
export function framed(bytes: Uint8Array, fds: number[] = []): FramedMessage {
  return { header: decodeHeader(bytes), payload: bytes.subarray(16), fds };
}

/** Encodes then decodes a message, carrying its fds across. */
export function roundTrip(m: Message, options: DecodeMessageOptions = {}): Message {
  const bytes = encodeMessage(m);
  return decodeMessage(framed(bytes, [...('fds' in m && m.fds ? m.fds : [])]), options);
}

/** Raw message bytes from a header description and a payload. */
export function rawMessage(h: {
  msgId?: number;
  command: number;
  flags?: number;
  errorNo?: number;
  payload?: Uint8Array | number[];
  msgSize?: number;
}): Uint8Array {
  const payload = h.payload instanceof Uint8Array ? h.payload : new Uint8Array(h.payload ?? []);
  const out = new Uint8Array(16 + payload.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, h.msgId ?? 1, true);
  v.setUint16(2, h.command, true);
  v.setUint32(4, h.msgSize ?? out.length, true);
  v.setUint32(8, h.flags ?? 0, true);
  v.setUint32(12, h.errorNo ?? 0, true);
  out.set(payload, 16);
  return out;
}

/** Little-endian payload builder: `le(['u32', 32], ['u64', 0x1000n])`. */
export function le(...fields: (readonly ['u8' | 'u16' | 'u32' | 'u64', number | bigint])[]): Uint8Array {
  const sizes = { u8: 1, u16: 2, u32: 4, u64: 8 } as const;
  const out = new Uint8Array(fields.reduce((n, [t]) => n + sizes[t], 0));
  const v = new DataView(out.buffer);
  let at = 0;
  for (const [t, x] of fields) {
    if (t === 'u8') v.setUint8(at, Number(x));
    else if (t === 'u16') v.setUint16(at, Number(x), true);
    else if (t === 'u32') v.setUint32(at, Number(x), true);
    else v.setBigUint64(at, BigInt(x), true);
    at += sizes[t];
  }
  return out;
}

/** Concatenates byte arrays. */
export function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const arrays = parts.map((p) => (p instanceof Uint8Array ? p : new Uint8Array(p)));
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

/** Runs `fn`, requiring a ProtocolError with `errno` (and `code` when given); returns it. */
export function expectProtocolError(
  fn: () => unknown,
  errno: number,
  code?: ProtocolErrorCode,
): ProtocolError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected a ProtocolError').toBeDefined();
  if (!isProtocolError(caught)) throw caught;
  expect(caught.errno, caught.message).toBe(errno);
  if (code !== undefined) expect(caught.code, caught.message).toBe(code);
  return caught;
}

/** Hex of bytes, for readable comparisons. */
export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}
