import { native, syscallError } from './binding';
import { SysError } from './errors';

/** The block I/O addon's surface (native/block_io.cc). Failures are negative errnos. */
interface BlockIoBinding {
  readonly platform: 'linux';
  readonly FALLOC_FL_KEEP_SIZE: number;
  readonly FALLOC_FL_PUNCH_HOLE: number;
  readonly FALLOC_FL_ZERO_RANGE: number;
  fallocate(fd: number, mode: number, offset: number, length: number): Promise<number>;
  allocAligned(size: number, alignment: number): ArrayBuffer | number;
}

type LoadResult = { ok: true; binding: BlockIoBinding } | { ok: false; error: SysError };

function load(): LoadResult {
  if (process.platform !== 'linux') {
    return {
      ok: false,
      error: new SysError('UNSUPPORTED_PLATFORM', `fallocate needs Linux; this is ${process.platform}`),
    };
  }
  // Part of the one vfu_sys addon (so it ships in the same prebuilt binary).
  try {
    return { ok: true, binding: native().blockIo as BlockIoBinding };
  } catch (cause) {
    return {
      ok: false,
      error: cause instanceof SysError ? cause : new SysError('ADDON_NOT_BUILT', String(cause), { cause }),
    };
  }
}

// Loaded once when the module is evaluated; never reassigned.
const loaded: LoadResult = load();

function blockIo(): BlockIoBinding {
  if (!loaded.ok) throw loaded.error;
  return loaded.binding;
}

/** `fallocate(2)` mode bits, as in `<linux/falloc.h>`. */
export const FallocateMode = {
  /** Do not change the file size, even when the range reaches past the end. */
  KEEP_SIZE: 0x01,
  /** Deallocate the range (reads return zeros); needs `KEEP_SIZE`. */
  PUNCH_HOLE: 0x02,
  /** Zero the range, keeping or converting it to allocated unwritten extents. */
  ZERO_RANGE: 0x10,
} as const;

/**
 * `fallocate(2)` on libuv's threadpool: the event loop keeps running while the filesystem works.
 * Rejects with a `SYSCALL_FAILED` SysError whose `errno` tells why (`EOPNOTSUPP` when the
 * filesystem lacks the mode, `ENOSPC`, `EBADF`...). `path` only names the file in the message.
 */
export async function fallocate(
  fd: number,
  mode: number,
  offset: number,
  length: number,
  path?: string,
): Promise<void> {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length <= 0) {
    throw new SysError('INVALID_ARGUMENT', `fallocate: bad range offset ${offset} length ${length}`, { fd });
  }
  const rc = await blockIo().fallocate(fd, mode, offset, length);
  if (rc < 0) throw syscallError(-rc, 'fallocate', path === undefined ? { fd } : { fd, path });
}

/**
 * A zero-filled buffer of `size` bytes whose address is a multiple of `alignment` (a power of
 * two), as O_DIRECT I/O needs; freed when collected.
 */
export function allocAligned(size: number, alignment: number): Uint8Array {
  const r = blockIo().allocAligned(size, alignment);
  if (typeof r === 'number') {
    throw new SysError('INVALID_ARGUMENT', `allocAligned(${size}, ${alignment}) failed (errno ${-r})`, {
      errno: -r,
    });
  }
  return new Uint8Array(r);
}
