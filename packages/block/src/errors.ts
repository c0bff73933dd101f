import { getSystemErrorName } from 'node:util';

/**
 * Why a block operation failed. `errno` carries the POSIX name a device maps to its own status
 * (NVMe: EIO to Unrecovered Read Error or Write Fault, ENOSPC to Capacity Exceeded, EROFS to
 * Namespace Is Write Protected):
 * - `IO_FAILED`: the backing store reported an error for this request (`errno` from it).
 * - `READ_ONLY`: a write, write-zeroes or discard on a read-only node (`EROFS`).
 * - `OUT_OF_RANGE`: the request reaches past the end of the node, or is negative (`EINVAL`).
 * - `UNALIGNED`: the request is not aligned as the node requires, e.g. O_DIRECT (`EINVAL`).
 * - `CLOSED`: the backend was closed (`ESHUTDOWN`).
 * - `DISCONNECTED`: a network backend lost its server; this request did not complete (`EIO`).
 * - `OPEN_FAILED`: the node could not be opened (`ENOENT`, `EACCES`, `EINVAL`, `ECONNREFUSED`...).
 * - `PROTOCOL_ERROR`: a server broke its protocol (`EPROTO`); the connection is dropped.
 * - `NOT_SUPPORTED`: the operation or option is not available here (`ENOTSUP`).
 * - `INVALID_OPTION`: a `-blockdev` option or blockdev-add argument is wrong (`EINVAL`).
 * - `NODE_EXISTS`, `NODE_NOT_FOUND`, `NODE_IN_USE`: node registry bookkeeping.
 */
export type BlockErrorCode =
  | 'IO_FAILED'
  | 'READ_ONLY'
  | 'OUT_OF_RANGE'
  | 'UNALIGNED'
  | 'CLOSED'
  | 'DISCONNECTED'
  | 'OPEN_FAILED'
  | 'PROTOCOL_ERROR'
  | 'NOT_SUPPORTED'
  | 'INVALID_OPTION'
  | 'NODE_EXISTS'
  | 'NODE_NOT_FOUND'
  | 'NODE_IN_USE';

/** Context attached to a {@link BlockError}. */
export interface BlockErrorContext {
  /** POSIX errno name (`"EIO"`); defaults from the code when absent. */
  errno?: string;
  /** The driver concerned (`"file"`, `"null-co"`, `"nbd"`). */
  driver?: string;
  /** The node name concerned. */
  nodeName?: string;
  /** The operation (`"read"`, `"write"`, `"flush"`, `"write-zeroes"`, `"discard"`, `"open"`). */
  op?: string;
  /** Byte offset of the failing request. */
  offset?: number;
  /** Byte length of the failing request. */
  length?: number;
  /** The option at fault, dotted as on the command line (`"server.path"`). */
  option?: string;
  cause?: unknown;
}

const DEFAULT_ERRNO: Record<BlockErrorCode, string> = {
  IO_FAILED: 'EIO',
  READ_ONLY: 'EROFS',
  OUT_OF_RANGE: 'EINVAL',
  UNALIGNED: 'EINVAL',
  CLOSED: 'ESHUTDOWN',
  DISCONNECTED: 'EIO',
  OPEN_FAILED: 'EIO',
  PROTOCOL_ERROR: 'EPROTO',
  NOT_SUPPORTED: 'ENOTSUP',
  INVALID_OPTION: 'EINVAL',
  NODE_EXISTS: 'EEXIST',
  NODE_NOT_FOUND: 'ENOENT',
  NODE_IN_USE: 'EBUSY',
};

/** The one error type of `@vfu/block`. */
export class BlockError extends Error {
  override readonly name = 'BlockError';
  readonly code: BlockErrorCode;
  /** POSIX errno name, e.g. `"EIO"`, `"ENOSPC"`, `"EROFS"`. */
  readonly errno: string;
  readonly driver: string | undefined;
  readonly nodeName: string | undefined;
  readonly op: string | undefined;
  readonly offset: number | undefined;
  readonly length: number | undefined;
  readonly option: string | undefined;

  constructor(code: BlockErrorCode, message: string, context: BlockErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.code = code;
    this.errno = context.errno ?? DEFAULT_ERRNO[code];
    this.driver = context.driver;
    this.nodeName = context.nodeName;
    this.op = context.op;
    this.offset = context.offset;
    this.length = context.length;
    this.option = context.option;
  }
}

/** True for a {@link BlockError}, also one thrown by another copy of this package (checks shape). */
export function isBlockError(error: unknown): error is BlockError {
  return (
    error instanceof Error &&
    error.name === 'BlockError' &&
    typeof (error as { code?: unknown }).code === 'string' &&
    typeof (error as { errno?: unknown }).errno === 'string'
  );
}

/**
 * The errno name of a Node or `@vfu/sys` error (`"ENOSPC"`), or undefined. Node's fs errors carry
 * `code: "ENOSPC"`; SysError carries `errnoName`.
 */
export function errnoNameOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as { code?: unknown; errnoName?: unknown; errno?: unknown };
  if (typeof e.errnoName === 'string') return e.errnoName;
  if (typeof e.code === 'string' && /^E[A-Z0-9]+$/.test(e.code)) return e.code;
  if (typeof e.errno === 'number') {
    try {
      return getSystemErrorName(e.errno < 0 ? e.errno : -e.errno);
    } catch {
      return undefined;
    }
  }
  return undefined;
}
