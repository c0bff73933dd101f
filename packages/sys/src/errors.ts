import { getSystemErrorName } from 'node:util';

/**
 * Why a `@vfu/sys` operation failed:
 * - `SYSCALL_FAILED`: the kernel returned an error; `syscall`, `errno` and `errnoName` say which.
 * - `CONTROL_TRUNCATED`: a received message carried more file descriptors than fit (MSG_CTRUNC).
 * - `FD_CLOSED`: the object's file descriptor was already closed (or released).
 * - `REGION_UNMAPPED`: a `MappedRegion` was used after `unmap()`.
 * - `OUT_OF_RANGE`: a mapping would reach past the end of the file (that would raise SIGBUS).
 * - `INVALID_ARGUMENT`: a caller-supplied value is out of its domain (negative size, bad path...).
 * - `UNSUPPORTED_PLATFORM`: the native primitives exist only on Linux.
 * - `ADDON_NOT_BUILT`: the native addon was not built or could not be loaded.
 */
export type SysErrorCode =
  | 'SYSCALL_FAILED'
  | 'CONTROL_TRUNCATED'
  | 'FD_CLOSED'
  | 'REGION_UNMAPPED'
  | 'OUT_OF_RANGE'
  | 'INVALID_ARGUMENT'
  | 'UNSUPPORTED_PLATFORM'
  | 'ADDON_NOT_BUILT';

/** Context attached to a {@link SysError}. */
export interface SysErrorContext {
  /** The system call that failed, e.g. `"recvmsg"`. */
  syscall?: string;
  /** Positive Linux errno, e.g. 9 for EBADF. */
  errno?: number;
  /** The file descriptor concerned. */
  fd?: number;
  /** The socket path concerned. */
  path?: string;
  cause?: unknown;
}

/** The one error type thrown by `@vfu/sys`. */
export class SysError extends Error {
  override readonly name = 'SysError';
  readonly code: SysErrorCode;
  readonly syscall: string | undefined;
  readonly errno: number | undefined;
  /** Symbolic errno, e.g. `"EAGAIN"`, when `errno` is set. */
  readonly errnoName: string | undefined;
  readonly fd: number | undefined;
  readonly path: string | undefined;

  constructor(code: SysErrorCode, message: string, context: SysErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.code = code;
    this.syscall = context.syscall;
    this.errno = context.errno;
    this.errnoName = context.errno === undefined ? undefined : errnoName(context.errno);
    this.fd = context.fd;
    this.path = context.path;
  }
}

/** True for a {@link SysError}, also one thrown by another copy of this package (checks shape). */
export function isSysError(error: unknown): error is SysError {
  return (
    error instanceof Error &&
    error.name === 'SysError' &&
    typeof (error as { code?: unknown }).code === 'string'
  );
}

/** `EBADF` for 9; `errno <n>` for numbers Node does not know. */
export function errnoName(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}
