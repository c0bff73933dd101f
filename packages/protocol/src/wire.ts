import { hex } from '@vfu/errors';
import { ProtocolError, type ProtocolErrorCode } from './errors';

const U32_MAX = 0xffff_ffff;
const U64_MAX = 0xffff_ffff_ffff_ffffn;

/** Where a payload being decoded came from, for error messages. */
export interface PayloadContext {
  command: number;
  msgId: number;
  /** `request` or `reply`, used in messages. */
  kind: 'request' | 'reply';
  name: string;
}

/**
 * Bounds-checked little-endian reads over one message payload. Every read checks its range, so
 * a decoder bug can only produce a ProtocolError, never an out-of-bounds read.
 */
export class PayloadReader {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly length: number;
  readonly context: PayloadContext;

  constructor(bytes: Uint8Array, context: PayloadContext) {
    this.bytes = bytes;
    // A Uint8Array may be a slice of a larger pooled buffer: build the view from its own window.
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.length = bytes.byteLength;
    this.context = context;
  }

  /** A ProtocolError located in this payload. */
  error(
    code: ProtocolErrorCode,
    message: string,
    field?: string,
    offset?: number,
    errno?: number,
  ): ProtocolError {
    const c = this.context;
    return new ProtocolError(code, `${c.name} ${c.kind}: ${message}`, {
      command: c.command,
      msgId: c.msgId,
      ...(field === undefined ? {} : { field }),
      ...(offset === undefined ? {} : { offset }),
      ...(errno === undefined ? {} : { errno }),
    });
  }

  /** Requires at least `n` payload bytes. */
  need(n: number, what: string): void {
    if (this.length < n) {
      throw this.error(
        'short-payload',
        `payload is ${this.length} bytes, ${what} needs ${n}`,
        undefined,
        this.length,
      );
    }
  }

  /** Requires exactly `n` payload bytes. */
  exact(n: number, what: string): void {
    this.need(n, what);
    if (this.length > n) {
      throw this.error('trailing-bytes', `payload is ${this.length} bytes, ${what} is ${n}`, undefined, n);
    }
  }

  private check(offset: number, size: number, field: string): void {
    if (offset < 0 || offset + size > this.length) {
      throw this.error(
        'short-payload',
        `${field} at ${offset} is past the ${this.length}-byte payload`,
        field,
        offset,
      );
    }
  }

  u8(offset: number, field: string): number {
    this.check(offset, 1, field);
    return this.view.getUint8(offset);
  }

  u16(offset: number, field: string): number {
    this.check(offset, 2, field);
    return this.view.getUint16(offset, true);
  }

  u32(offset: number, field: string): number {
    this.check(offset, 4, field);
    return this.view.getUint32(offset, true);
  }

  i32(offset: number, field: string): number {
    this.check(offset, 4, field);
    return this.view.getInt32(offset, true);
  }

  u64(offset: number, field: string): bigint {
    this.check(offset, 8, field);
    return this.view.getBigUint64(offset, true);
  }

  /** A view (no copy) of `size` bytes at `offset`. */
  view8(offset: number, size: number, field: string): Uint8Array {
    this.check(offset, size, field);
    return this.bytes.subarray(offset, offset + size);
  }

  /** Requires `argsz` to be at least `min`. */
  argszAtLeast(argsz: number, min: number): void {
    if (argsz < min) throw this.error('bad-argsz', `argsz ${argsz} is smaller than ${min}`, 'argsz', 0);
  }

  /** Requires `bytes[from..)` to be zero (reserved fields). */
  zero(offset: number, size: number, field: string): void {
    this.check(offset, size, field);
    for (let i = offset; i < offset + size; i++) {
      if (this.bytes[i] !== 0) throw this.error('bad-field', `reserved ${field} is not zero`, field, offset);
    }
  }

  /** Rejects fds on a message that carries none. */
  noFds(fds: readonly number[]): void {
    if (fds.length > 0) throw this.error('bad-fds', `${fds.length} unexpected fd(s) attached`, 'fds');
  }
}

/**
 * Little-endian writes of one payload into a caller's buffer, checking value ranges as it goes.
 * Offsets are payload offsets; `base` is where the payload starts in `bytes` (after the header),
 * so header and payload share one DataView.
 */
export class PayloadWriter {
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  private readonly base: number;
  /** Command name and `request`/`reply`, joined only when an error needs them. */
  private readonly name: string;
  private readonly kind: string;

  constructor(bytes: Uint8Array, view: DataView, base: number, name: string, kind: string) {
    this.bytes = bytes;
    this.view = view;
    this.base = base;
    this.name = name;
    this.kind = kind;
  }

  private bad(field: string, value: unknown, range: string): ProtocolError {
    return new ProtocolError(
      'bad-value',
      `${this.name} ${this.kind}: ${field} ${String(value)} is not ${range}`,
      {
        field,
        actual: String(value),
        expected: range,
      },
    );
  }

  u8(offset: number, v: number, field: string): void {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) throw this.bad(field, v, 'a u8');
    this.view.setUint8(this.base + offset, v);
  }

  u16(offset: number, v: number, field: string): void {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw this.bad(field, v, 'a u16');
    this.view.setUint16(this.base + offset, v, true);
  }

  u32(offset: number, v: number, field: string): void {
    if (!Number.isInteger(v) || v < 0 || v > U32_MAX) throw this.bad(field, v, 'a u32');
    this.view.setUint32(this.base + offset, v, true);
  }

  i32(offset: number, v: number, field: string): void {
    if (!Number.isInteger(v) || v < -0x8000_0000 || v > 0x7fff_ffff) throw this.bad(field, v, 'an i32');
    this.view.setInt32(this.base + offset, v, true);
  }

  u64(offset: number, v: bigint, field: string): void {
    if (typeof v !== 'bigint' || v < 0n || v > U64_MAX) throw this.bad(field, v, 'a u64 bigint');
    this.view.setBigUint64(this.base + offset, v, true);
  }

  bytesAt(offset: number, data: Uint8Array): void {
    this.bytes.set(data, this.base + offset);
  }

  /** Zero-fills (the destination may be a reused buffer). */
  zero(offset: number, size: number): void {
    this.bytes.fill(0, this.base + offset, this.base + offset + size);
  }
}

/** Throws a `bad-value` error when an encoder is given inconsistent input. */
export function encodeError(name: string, message: string, field?: string): ProtocolError {
  return new ProtocolError('bad-value', `${name}: ${message}`, field === undefined ? {} : { field });
}

/** `0x1f` formatting used by every describer: the shared one. */
export { hex } from '@vfu/errors';

/** Names of the set bits of `flags` from a table, plus any unnamed remainder in hex. */
export function flagNames(flags: number, names: readonly (readonly [number, string])[]): string {
  const parts: string[] = [];
  let rest = flags;
  for (const [bit, name] of names) {
    if ((flags & bit) !== 0) {
      parts.push(name);
      rest &= ~bit;
    }
  }
  if (rest !== 0) parts.push(hex(rest >>> 0));
  return parts.length === 0 ? '0' : parts.join('|');
}

/** Hex of at most `max` bytes, with the elided length. */
export function hexBytes(data: Uint8Array, max = 16): string {
  let s = '';
  const n = Math.min(data.length, max);
  for (let i = 0; i < n; i++) s += (data[i] as number).toString(16).padStart(2, '0');
  return data.length > max ? `${s}... (${data.length} bytes)` : s;
}
