import { isVfuError, VfuError, type VfuErrorContext } from '@vfu/errors';

/**
 * Linux errno values a vfio-user reply carries in `error_no`. vfio-user peers run on Linux, so
 * these are the Linux numbers, whatever the host running this code.
 */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  EMFILE: 24,
  ENOSPC: 28,
  EPIPE: 32,
  ERANGE: 34,
  ENOSYS: 38,
  EPROTO: 71,
  /** Also EOPNOTSUPP on Linux. */
  ENOTSUP: 95,
  EADDRINUSE: 98,
  ECONNRESET: 104,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
} as const;

/** Name of an errno value in {@link Errno}, or `errno <n>` for others. */
export function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(Errno)) if (value === errno) return name;
  return `errno ${errno}`;
}

/** Every way a vfio-user message can be rejected. */
export type ProtocolErrorCode =
  | 'short-header'
  | 'bad-message-size'
  | 'message-too-large'
  | 'bad-flags'
  | 'unknown-command'
  | 'unexpected-command'
  | 'short-payload'
  | 'trailing-bytes'
  | 'bad-argsz'
  | 'bad-field'
  | 'count-too-large'
  | 'bad-fds'
  | 'too-many-fds'
  | 'bad-json'
  | 'bad-capability'
  | 'unsupported-version'
  | 'bad-migration-transition'
  | 'bad-value'
  | 'buffer-too-small';

/**
 * The errno each code is answered with. libvfio-user answers almost every malformed request with
 * EINVAL and we match it; size limits use E2BIG (as QEMU's client does) because "too big" is
 * more useful to a peer than a bare EINVAL.
 */
export const ERRNO_BY_CODE: Readonly<Record<ProtocolErrorCode, number>> = {
  'short-header': Errno.EINVAL,
  'bad-message-size': Errno.EINVAL,
  'message-too-large': Errno.E2BIG,
  'bad-flags': Errno.EINVAL,
  'unknown-command': Errno.EINVAL,
  'unexpected-command': Errno.EINVAL,
  'short-payload': Errno.EINVAL,
  'trailing-bytes': Errno.EINVAL,
  'bad-argsz': Errno.EINVAL,
  'bad-field': Errno.EINVAL,
  'count-too-large': Errno.E2BIG,
  'bad-fds': Errno.EINVAL,
  'too-many-fds': Errno.EINVAL,
  'bad-json': Errno.EINVAL,
  'bad-capability': Errno.EINVAL,
  'unsupported-version': Errno.ENOTSUP,
  'bad-migration-transition': Errno.EINVAL,
  'bad-value': Errno.EINVAL,
  'buffer-too-small': Errno.ENOSPC,
};

/** Context attached to a {@link ProtocolError}, as its one `context` field. */
export interface ProtocolErrorContext extends VfuErrorContext {
  /** Errno for the reply; defaults to {@link ERRNO_BY_CODE}. */
  errno?: number;
  /** Raw command number of the message at fault. */
  command?: number;
  msgId?: number;
  /** Spec name of the field at fault (`argsz`, `count`, ...). */
  field?: string;
  /** Byte offset of the field inside the payload (after the 16-byte header). */
  offset?: number;
  expected?: string;
  actual?: string;
}

/**
 * A message that breaks the vfio-user protocol. `errno` is what the error reply should carry
 * (always set: the code's default unless the context names one); `context` says where the fault
 * is, and `command`/`msgId`/`field` read it.
 */
export class ProtocolError extends VfuError<ProtocolErrorCode, ProtocolErrorContext & { errno: number }> {
  override readonly name = 'ProtocolError';

  constructor(code: ProtocolErrorCode, message: string, context: ProtocolErrorContext = {}) {
    super(code, message, { ...context, errno: context.errno ?? ERRNO_BY_CODE[code] });
  }

  /** Positive Linux errno for the error reply. */
  override get errno(): number {
    return this.context.errno;
  }

  /** Raw command number of the message at fault. */
  get command(): number | undefined {
    return this.context.command;
  }

  get msgId(): number | undefined {
    return this.context.msgId;
  }

  /** Spec name of the field at fault. */
  get field(): string | undefined {
    return this.context.field;
  }
}

/** Shape check, so it also recognises errors from another copy of this package. */
export function isProtocolError(e: unknown): e is ProtocolError {
  return isVfuError(e, 'ProtocolError') && e.code in ERRNO_BY_CODE && typeof e.errno === 'number';
}
