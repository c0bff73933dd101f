import { check, native } from './binding';
import { SysError } from './errors';

/** Seal bits for {@link OwnedFd.addSeals} (Linux `F_SEAL_*`). */
export const Seal = {
  /** No further seals may be added. */
  SEAL: 0x1,
  /** The file may not shrink: a mapping of it can never fault with SIGBUS. */
  SHRINK: 0x2,
  /** The file may not grow. */
  GROW: 0x4,
  /** The contents may not change (no writable shared mapping may exist). */
  WRITE: 0x8,
  /** No new writable mapping or write(); existing writable mappings keep working. */
  FUTURE_WRITE: 0x10,
} as const;

/** How a file descriptor was opened (`O_ACCMODE` of its status flags). */
export type FdAccess = 'read' | 'write' | 'readwrite';

/** Throws INVALID_ARGUMENT unless `fd` is a plausible descriptor number. */
export function assertFdNumber(fd: number): void {
  if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) {
    throw new SysError('INVALID_ARGUMENT', `not a file descriptor: ${String(fd)}`);
  }
}

/**
 * Sole owner of one file descriptor. `close()` releases it (idempotent); `release()` hands the raw
 * number to a new owner without closing it. Every other use after either throws `FD_CLOSED`.
 */
export class OwnedFd {
  #fd: number;

  /** Takes ownership of `fd` (for example one received from a peer or inherited from a parent). */
  constructor(fd: number) {
    assertFdNumber(fd);
    this.#fd = fd;
  }

  /** Wraps each of `fds`, taking ownership of all of them. */
  static adoptAll(fds: readonly number[]): OwnedFd[] {
    return fds.map((fd) => new OwnedFd(fd));
  }

  /** The descriptor number. Throws `FD_CLOSED` once closed or released. */
  get fd(): number {
    if (this.#fd < 0) throw new SysError('FD_CLOSED', 'file descriptor already closed');
    return this.#fd;
  }

  /** True after `close()` or `release()`. */
  get closed(): boolean {
    return this.#fd < 0;
  }

  /** A second descriptor for the same open file (close-on-exec), owned by the returned object. */
  dup(): OwnedFd {
    const fd = this.fd;
    return new OwnedFd(check(native().dup(fd), 'fcntl(F_DUPFD_CLOEXEC)', { fd }));
  }

  /** Gives up ownership: returns the number, which the caller must close. */
  release(): number {
    const fd = this.fd;
    this.#fd = -1;
    return fd;
  }

  /** Closes the descriptor. Safe to call more than once. */
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    check(native().close(fd), 'close', { fd });
  }

  /** Size in bytes (`fstat().st_size`). */
  size(): number {
    const fd = this.fd;
    const st = native().fstat(fd);
    if (typeof st === 'number') check(st, 'fstat', { fd });
    return (st as [number, number])[0];
  }

  /** Sets the size of a file or memfd (`ftruncate`). */
  truncate(size: number): void {
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new SysError('INVALID_ARGUMENT', `size must be a non-negative safe integer, got ${String(size)}`);
    }
    const fd = this.fd;
    check(native().ftruncate(fd, size), 'ftruncate', { fd });
  }

  /** How the descriptor was opened; decides whether a shared mapping can be writable. */
  access(): FdAccess {
    const fd = this.fd;
    const mode = check(native().accessMode(fd), 'fcntl(F_GETFL)', { fd });
    return mode === 0 ? 'read' : mode === 1 ? 'write' : 'readwrite';
  }

  /** Adds `Seal` bits (memfd created with `allowSealing`). */
  addSeals(seals: number): void {
    const fd = this.fd;
    check(native().addSeals(fd, seals), 'fcntl(F_ADD_SEALS)', { fd });
  }

  /** Current `Seal` bits (fails with EINVAL for files that do not support sealing). */
  seals(): number {
    const fd = this.fd;
    return check(native().getSeals(fd), 'fcntl(F_GET_SEALS)', { fd });
  }
}

/** Closes a raw descriptor number this code owns (for fds held as plain numbers). */
export function closeFd(fd: number): void {
  assertFdNumber(fd);
  check(native().close(fd), 'close', { fd });
}

/** Closes each raw descriptor, ignoring ones already gone (cleanup paths must not throw half-way). */
export function closeFdsQuietly(fds: readonly number[]): void {
  for (const fd of fds) {
    if (Number.isInteger(fd) && fd >= 0) native().close(fd);
  }
}

/** Options for {@link createMemfd}. */
export interface MemfdOptions {
  /** Initial size in bytes (default 0). */
  size?: number;
  /** Allow `addSeals` later (MFD_ALLOW_SEALING); default true. */
  allowSealing?: boolean;
}

/** An anonymous memory file (`memfd_create`, close-on-exec), e.g. to back guest RAM shared by fd. */
export function createMemfd(name: string, options: MemfdOptions = {}): OwnedFd {
  if (typeof name !== 'string' || Buffer.byteLength(name) > 249 || name.includes('\0')) {
    throw new SysError('INVALID_ARGUMENT', 'memfd name must be a string of at most 249 bytes without NUL');
  }
  const fd = new OwnedFd(check(native().memfdCreate(name, options.allowSealing ?? true), 'memfd_create'));
  if (options.size !== undefined && options.size !== 0) {
    try {
      fd.truncate(options.size);
    } catch (error) {
      fd.close();
      throw error;
    }
  }
  return fd;
}
