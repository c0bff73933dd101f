import { constants } from 'node:os';
import { getSystemErrorName } from 'node:util';
import { isVfuError, VfuError, type VfuErrorContext } from '@vfu/errors';

/**
 * Why a block operation failed, as a closed list. `errnoName` (and the numeric `errno`) carry the
 * POSIX error a device turns into its own status (NVMe: EIO is Unrecovered Read Error or Write
 * Fault, ENOSPC Capacity Exceeded, EROFS Namespace Is Write Protected):
 * - `io-failed`: the backing store reported an error for this request (errno from it).
 * - `read-only`: a write, write-zeroes or discard on a read-only node (EROFS).
 * - `out-of-range`: the request reaches past the end of the node, or is negative (EINVAL).
 * - `unaligned`: the request is not aligned as the node requires, e.g. O_DIRECT (EINVAL).
 * - `closed`: the backend was closed (ESHUTDOWN).
 * - `disconnected`: a network backend lost its server; the request did not complete (EIO).
 * - `open-failed`: the node could not be opened (ENOENT, EACCES, EINVAL, ECONNREFUSED...).
 * - `protocol-error`: a server broke its protocol (EPROTO); the connection is dropped.
 * - `not-supported`: the operation or option is not available here (ENOTSUP).
 * - `invalid-option`: a `-blockdev` option or blockdev-add argument is wrong (EINVAL).
 * - `node-exists`, `node-not-found`, `node-in-use`: node registry bookkeeping.
 */
export type BlockErrorCode =
  | 'io-failed'
  | 'read-only'
  | 'out-of-range'
  | 'unaligned'
  | 'closed'
  | 'disconnected'
  | 'open-failed'
  | 'protocol-error'
  | 'not-supported'
  | 'invalid-option'
  | 'node-exists'
  | 'node-not-found'
  | 'node-in-use';

/** Context of a {@link BlockError}, its one `context` field. */
export interface BlockErrorContext extends VfuErrorContext {
  /** POSIX errno name (`"EIO"`); defaults from the code when neither it nor `errno` is given. */
  errnoName?: string;
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
}

const DEFAULT_ERRNO: Record<BlockErrorCode, string> = {
  'io-failed': 'EIO',
  'read-only': 'EROFS',
  'out-of-range': 'EINVAL',
  unaligned: 'EINVAL',
  closed: 'ESHUTDOWN',
  disconnected: 'EIO',
  'open-failed': 'EIO',
  'protocol-error': 'EPROTO',
  'not-supported': 'ENOTSUP',
  'invalid-option': 'EINVAL',
  'node-exists': 'EEXIST',
  'node-not-found': 'ENOENT',
  'node-in-use': 'EBUSY',
};

/**
 * The one error type of `@vfu/block`. `errno` (positive number, from VfuError) and `errnoName`
 * say which POSIX error the failure is; `context` holds the request (`op`, `offset`, `length`),
 * the `driver`, the `nodeName` and the `option` at fault.
 */
export class BlockError extends VfuError<BlockErrorCode, BlockErrorContext> {
  override readonly name = 'BlockError';
  /** POSIX errno name, e.g. `"EIO"`, `"ENOSPC"`, `"EROFS"`. */
  readonly errnoName: string;

  constructor(code: BlockErrorCode, message: string, context: BlockErrorContext = {}) {
    const errnoName =
      context.errnoName ??
      (context.errno === undefined ? DEFAULT_ERRNO[code] : (errnoNameOf({ errno: context.errno }) ?? 'EIO'));
    const errno = context.errno ?? (constants.errno as Record<string, number | undefined>)[errnoName];
    super(code, message, { ...context, errnoName, ...(errno === undefined ? {} : { errno }) });
    this.errnoName = errnoName;
  }
}

/** True for a {@link BlockError}, also one thrown by another copy of this package (checks shape). */
export function isBlockError(error: unknown): error is BlockError {
  return isVfuError(error, 'BlockError') && typeof (error as { errnoName?: unknown }).errnoName === 'string';
}

/**
 * The errno name of a Node, `@vfu/sys` or vfu error (`"ENOSPC"`), or undefined. Node's fs errors
 * carry `code: "ENOSPC"`; SysError and BlockError carry `errnoName`; others a numeric `errno`.
 */
export function errnoNameOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as { code?: unknown; errnoName?: unknown; errno?: unknown };
  if (typeof e.errnoName === 'string') return e.errnoName;
  if (typeof e.code === 'string' && /^E[A-Z0-9]+$/.test(e.code)) return e.code;
  if (typeof e.errno === 'number' && e.errno !== 0) {
    try {
      return getSystemErrorName(-Math.abs(e.errno));
    } catch {
      return undefined;
    }
  }
  return undefined;
}
