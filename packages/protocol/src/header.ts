import { ProtocolError } from './errors';

/** Size of the vfio-user message header; `msg_size` includes it. */
export const HEADER_SIZE = 16;

/** Bits of the header's `flags` word. */
export const HeaderFlags = {
  /** Bits 0-3: message type. */
  TypeMask: 0x0f,
  TypeCommand: 0x0,
  TypeReply: 0x1,
  /** In a command: the sender wants no reply. */
  NoReply: 0x10,
  /** In a reply: the command failed and `error_no` holds the errno. */
  Error: 0x20,
  /** Bits 6-31 are reserved and must be zero. */
  ReservedMask: 0xffff_ffc0,
} as const;

/** Whether a message is a command (request) or a reply. */
export type MessageType = 'command' | 'reply';

/** The decoded 16-byte header. */
export interface MessageHeader {
  /** Chosen by the sender of a command, echoed in its reply; not unique. */
  msgId: number;
  /** Raw u16 command number; may be a number the spec does not assign. */
  command: number;
  /** Size of the whole message, header included. */
  msgSize: number;
  type: MessageType;
  noReply: boolean;
  error: boolean;
  /** errno of an error reply (may be 0 even then); reserved in commands. */
  errorNo: number;
  /** The raw flags word. */
  flags: number;
}

/** What {@link encodeHeader} needs; `flags` is derived from `type`, `noReply` and `error`. */
export interface HeaderInit {
  msgId: number;
  command: number;
  msgSize: number;
  type: MessageType;
  noReply?: boolean;
  error?: boolean;
  errorNo?: number;
}

/** Reads the raw header fields without validating them (the framer needs them even when bad). */
export function readHeaderFields(bytes: Uint8Array): {
  msgId: number;
  command: number;
  msgSize: number;
  flags: number;
  errorNo: number;
} {
  const v = new DataView(bytes.buffer, bytes.byteOffset, HEADER_SIZE);
  return {
    msgId: v.getUint16(0, true),
    command: v.getUint16(2, true),
    msgSize: v.getUint32(4, true),
    flags: v.getUint32(8, true),
    errorNo: v.getUint32(12, true),
  };
}

/**
 * Checks header fields the way a receiver must: type 0 or 1, reserved bits clear, No_reply only
 * on commands, Error only on replies, `msg_size` at least 16, and an error reply header-only.
 */
export function validateHeaderFields(f: {
  msgId: number;
  command: number;
  msgSize: number;
  flags: number;
  errorNo: number;
}): MessageHeader {
  const ctx = { command: f.command, msgId: f.msgId };
  if (f.msgSize < HEADER_SIZE) {
    throw new ProtocolError('bad-message-size', `msg_size ${f.msgSize} is smaller than the 16-byte header`, {
      ...ctx,
      field: 'msg_size',
    });
  }
  const typeBits = f.flags & HeaderFlags.TypeMask;
  if (typeBits !== HeaderFlags.TypeCommand && typeBits !== HeaderFlags.TypeReply) {
    throw new ProtocolError('bad-flags', `message type ${typeBits} is neither command (0) nor reply (1)`, {
      ...ctx,
      field: 'flags',
    });
  }
  if ((f.flags & HeaderFlags.ReservedMask) !== 0) {
    throw new ProtocolError('bad-flags', `reserved flag bits 0x${(f.flags >>> 0).toString(16)} are set`, {
      ...ctx,
      field: 'flags',
    });
  }
  const type: MessageType = typeBits === HeaderFlags.TypeReply ? 'reply' : 'command';
  const noReply = (f.flags & HeaderFlags.NoReply) !== 0;
  const error = (f.flags & HeaderFlags.Error) !== 0;
  if (type === 'reply' && noReply) {
    throw new ProtocolError('bad-flags', 'No_reply is set on a reply', { ...ctx, field: 'flags' });
  }
  if (type === 'command' && error) {
    throw new ProtocolError('bad-flags', 'Error is set on a command', { ...ctx, field: 'flags' });
  }
  if (error && f.msgSize !== HEADER_SIZE) {
    throw new ProtocolError('bad-message-size', `error reply has ${f.msgSize - HEADER_SIZE} payload bytes`, {
      ...ctx,
      field: 'msg_size',
    });
  }
  return {
    msgId: f.msgId,
    command: f.command,
    msgSize: f.msgSize,
    type,
    noReply,
    error,
    errorNo: f.errorNo,
    flags: f.flags,
  };
}

/** Decodes and validates the first 16 bytes of `bytes`. Throws {@link ProtocolError}. */
export function decodeHeader(bytes: Uint8Array): MessageHeader {
  if (bytes.byteLength < HEADER_SIZE) {
    throw new ProtocolError('short-header', `header needs 16 bytes, got ${bytes.byteLength}`);
  }
  return validateHeaderFields(readHeaderFields(bytes));
}

/** Writes a header into `dest` (first 16 bytes) or a new array, and returns those 16 bytes. */
export function encodeHeader(h: HeaderInit, dest?: Uint8Array): Uint8Array {
  const out = dest ?? new Uint8Array(HEADER_SIZE);
  if (out.byteLength < HEADER_SIZE) {
    throw new ProtocolError('buffer-too-small', `header needs 16 bytes, buffer has ${out.byteLength}`);
  }
  writeHeader(new DataView(out.buffer, out.byteOffset, HEADER_SIZE), h);
  return out.subarray(0, HEADER_SIZE);
}

/** Checks and writes a header at the start of `v` (shared with the message encoder). */
export function writeHeader(v: DataView, h: HeaderInit): void {
  const errorNo = h.errorNo ?? 0;
  checkHeaderField('msg_id', h.msgId, 0xffff);
  checkHeaderField('cmd', h.command, 0xffff);
  checkHeaderField('msg_size', h.msgSize, 0xffff_ffff);
  checkHeaderField('error_no', errorNo, 0xffff_ffff);
  if (h.msgSize < HEADER_SIZE) {
    throw new ProtocolError('bad-value', `header msg_size ${h.msgSize} is smaller than 16`, {
      field: 'msg_size',
    });
  }
  const flags =
    (h.type === 'reply' ? HeaderFlags.TypeReply : HeaderFlags.TypeCommand) |
    (h.noReply ? HeaderFlags.NoReply : 0) |
    (h.error ? HeaderFlags.Error : 0);
  v.setUint16(0, h.msgId, true);
  v.setUint16(2, h.command, true);
  v.setUint32(4, h.msgSize, true);
  v.setUint32(8, flags, true);
  v.setUint32(12, errorNo, true);
}

function checkHeaderField(name: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new ProtocolError('bad-value', `header ${name} ${v} is out of range`, { field: name });
  }
}
