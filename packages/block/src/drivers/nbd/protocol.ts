/**
 * NBD protocol constants and encoders (the client side), named as in the protocol document
 * (nbd's doc/proto.md) and Linux's `<linux/nbd.h>`. All integers are big-endian.
 */

export const NBDMAGIC = 0x4e42444d41474943n;
export const IHAVEOPT = 0x49484156454f5054n;
/** The magic of an oldstyle server's greeting, which this client does not speak. */
export const NBD_OLDSTYLE_MAGIC = 0x00420281861253n;
export const NBD_REP_MAGIC = 0x3e889045565a9n;

// Handshake flags (server) and client flags.
export const NBD_FLAG_FIXED_NEWSTYLE = 1 << 0;
export const NBD_FLAG_NO_ZEROES = 1 << 1;
export const NBD_FLAG_C_FIXED_NEWSTYLE = 1 << 0;
export const NBD_FLAG_C_NO_ZEROES = 1 << 1;

// Options.
export const NBD_OPT_EXPORT_NAME = 1;
export const NBD_OPT_ABORT = 2;
export const NBD_OPT_GO = 7;
export const NBD_OPT_STRUCTURED_REPLY = 8;

// Option replies.
export const NBD_REP_ACK = 1;
export const NBD_REP_INFO = 3;
export const NBD_REP_FLAG_ERROR = 0x80000000;
export const NBD_REP_ERR_UNSUP = 0x80000001;
export const NBD_REP_ERR_POLICY = 0x80000002;
export const NBD_REP_ERR_INVALID = 0x80000003;
export const NBD_REP_ERR_TLS_REQD = 0x80000005;
export const NBD_REP_ERR_UNKNOWN = 0x80000006;
export const NBD_REP_ERR_SHUTDOWN = 0x80000007;

// NBD_OPT_GO information types.
export const NBD_INFO_EXPORT = 0;
export const NBD_INFO_BLOCK_SIZE = 3;

// Transmission flags.
export const NBD_FLAG_HAS_FLAGS = 1 << 0;
export const NBD_FLAG_READ_ONLY = 1 << 1;
export const NBD_FLAG_SEND_FLUSH = 1 << 2;
export const NBD_FLAG_SEND_FUA = 1 << 3;
export const NBD_FLAG_ROTATIONAL = 1 << 4;
export const NBD_FLAG_SEND_TRIM = 1 << 5;
export const NBD_FLAG_SEND_WRITE_ZEROES = 1 << 6;

// Requests and replies.
export const NBD_REQUEST_MAGIC = 0x25609513;
export const NBD_SIMPLE_REPLY_MAGIC = 0x67446698;
export const NBD_STRUCTURED_REPLY_MAGIC = 0x668e33ef;
export const NBD_REQUEST_SIZE = 28;
export const NBD_SIMPLE_REPLY_SIZE = 16;
export const NBD_STRUCTURED_REPLY_SIZE = 20;

export const NBD_CMD_READ = 0;
export const NBD_CMD_WRITE = 1;
export const NBD_CMD_DISC = 2;
export const NBD_CMD_FLUSH = 3;
export const NBD_CMD_TRIM = 4;
export const NBD_CMD_WRITE_ZEROES = 6;

export const NBD_CMD_FLAG_FUA = 1 << 0;
export const NBD_CMD_FLAG_NO_HOLE = 1 << 1;

export const NBD_REPLY_FLAG_DONE = 1 << 0;
export const NBD_REPLY_TYPE_NONE = 0;
export const NBD_REPLY_TYPE_OFFSET_DATA = 1;
export const NBD_REPLY_TYPE_OFFSET_HOLE = 2;
export const NBD_REPLY_TYPE_ERROR = (1 << 15) + 1;
export const NBD_REPLY_TYPE_ERROR_OFFSET = (1 << 15) + 2;

/** The errno names NBD error values stand for; anything else counts as EINVAL, as the spec says. */
const NBD_ERRNO: Record<number, string> = {
  1: 'EPERM',
  5: 'EIO',
  12: 'ENOMEM',
  22: 'EINVAL',
  28: 'ENOSPC',
  75: 'EOVERFLOW',
  95: 'ENOTSUP',
  108: 'ESHUTDOWN',
};

/** Errno name of an NBD error value. */
export function nbdErrno(value: number): string {
  return NBD_ERRNO[value] ?? 'EINVAL';
}

/** Readable name of an option reply error, for messages. */
export function optionErrorName(reply: number): string {
  switch (reply) {
    case NBD_REP_ERR_UNSUP:
      return 'NBD_REP_ERR_UNSUP';
    case NBD_REP_ERR_POLICY:
      return 'NBD_REP_ERR_POLICY';
    case NBD_REP_ERR_INVALID:
      return 'NBD_REP_ERR_INVALID';
    case NBD_REP_ERR_TLS_REQD:
      return 'NBD_REP_ERR_TLS_REQD';
    case NBD_REP_ERR_UNKNOWN:
      return 'NBD_REP_ERR_UNKNOWN';
    case NBD_REP_ERR_SHUTDOWN:
      return 'NBD_REP_ERR_SHUTDOWN';
    default:
      return `reply 0x${reply.toString(16)}`;
  }
}

/** An option request: IHAVEOPT, option, length, data. */
export function encodeOption(option: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(16 + data.length);
  const v = new DataView(out.buffer);
  v.setBigUint64(0, IHAVEOPT);
  v.setUint32(8, option);
  v.setUint32(12, data.length);
  out.set(data, 16);
  return out;
}

/** NBD_OPT_GO's data: the export name and the information requests. */
export function encodeGoData(exportName: string, infos: readonly number[]): Uint8Array {
  const name = new TextEncoder().encode(exportName);
  const out = new Uint8Array(4 + name.length + 2 + 2 * infos.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, name.length);
  out.set(name, 4);
  v.setUint16(4 + name.length, infos.length);
  for (const [i, info] of infos.entries()) v.setUint16(6 + name.length + 2 * i, info);
  return out;
}

/** A transmission request header (the data of a write follows it on the wire). */
export function encodeRequest(
  type: number,
  flags: number,
  cookie: number,
  offset: number,
  length: number,
): Uint8Array {
  const out = new Uint8Array(NBD_REQUEST_SIZE);
  const v = new DataView(out.buffer);
  v.setUint32(0, NBD_REQUEST_MAGIC);
  v.setUint16(4, flags);
  v.setUint16(6, type);
  // Cookies are below 2^32; the high word stays zero.
  v.setUint32(12, cookie);
  v.setBigUint64(16, BigInt(offset));
  v.setUint32(24, length);
  return out;
}
