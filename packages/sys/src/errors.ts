import { getSystemErrorName } from 'node:util';
import { isVfuError, VfuError, type VfuErrorContext } from '@vfu/errors';

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

/** Context attached to a {@link SysError}, as its one `context` field. */
export interface SysErrorContext extends VfuErrorContext {
  /** The system call that failed, e.g. `"recvmsg"`. */
  syscall?: string;
  /** Positive Linux errno, e.g. 9 for EBADF. */
  errno?: number;
  /** The file descriptor concerned. */
  fd?: number;
  /** The socket path concerned. */
  path?: string;
}

/** The one error type thrown by `@vfu/sys`; `syscall`, `fd` and `path` read its context. */
export class SysError extends VfuError<SysErrorCode, SysErrorContext> {
  override readonly name = 'SysError';

  /** The system call that failed. */
  get syscall(): string | undefined {
    return this.context.syscall;
  }

  /** Symbolic errno, e.g. `"EAGAIN"`, when `errno` is set. */
  get errnoName(): string | undefined {
    return this.context.errno === undefined ? undefined : errnoName(this.context.errno);
  }

  /** The file descriptor concerned. */
  get fd(): number | undefined {
    return this.context.fd;
  }

  /** The socket path concerned. */
  get path(): string | undefined {
    return this.context.path;
  }
}

/** True for a {@link SysError}, also one thrown by another copy of this package (checks shape). */
export function isSysError(error: unknown): error is SysError {
  return isVfuError(error, 'SysError');
}

/** `EBADF` for 9; `errno <n>` for numbers Node does not know. */
export function errnoName(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}
