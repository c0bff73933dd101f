import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { SysError } from './errors';

/** The native addon's surface. Syscall wrappers return a negative errno on failure. */
export interface NativeBinding {
  readonly platform: 'linux';
  readonly CONTROL_TRUNCATED: number;
  readonly SCM_MAX_FD: number;
  socket(): number;
  socketpair(): [number, number] | number;
  bind(fd: number, path: string): number;
  listen(fd: number, backlog: number): number;
  accept(fd: number): number;
  connect(fd: number, path: string): number;
  shutdown(fd: number, how: number): number;
  setNonBlocking(fd: number): number;
  socketKind(fd: number): number;
  sendmsg(fd: number, buffers: readonly Uint8Array[], fds: readonly number[]): number;
  recvmsg(fd: number, buffer: Uint8Array, maxFds: number, meta: Int32Array): number;
  close(fd: number): number;
  dup(fd: number): number;
  memfdCreate(name: string, allowSealing: boolean): number;
  ftruncate(fd: number, size: number): number;
  fstat(fd: number): [size: number, mode: number] | number;
  accessMode(fd: number): number;
  addSeals(fd: number, seals: number): number;
  getSeals(fd: number): number;
  eventfd(initialValue: number, semaphore: boolean): number;
  eventfdRead(fd: number): bigint | number;
  eventfdWrite(fd: number, value: bigint): number;
  strerror(errno: number): string;
  pageSize(): number;
  mmap(
    fd: number,
    offset: number,
    length: number,
    shared: boolean,
    onPoisoned?: () => void,
  ): NativeMappingHandle | number;
  poisonWord(handle: NativeMappingHandle): ArrayBuffer | undefined | number;
  guardFaults(): number;
  mapWindow(handle: NativeMappingHandle, offset: number, length: number): ArrayBuffer | number;
  munmap(handle: NativeMappingHandle, buffers: readonly ArrayBuffer[]): number;
  Poll: new (fd: number, callback: (this: NativePoll, status: number, events: number) => void) => NativePoll;
  /** The block I/O helpers (native/block_io.cc), typed in block-io.ts. */
  readonly blockIo: unknown;
}

/** Opaque token the addon uses to find a mapping again. */
export type NativeMappingHandle = { readonly __nativeMapping: unique symbol };

/** A libuv poll handle on Node's loop. */
export interface NativePoll {
  start(events: number): number;
  stop(): void;
  close(): void;
  ref(): void;
  unref(): void;
}

/** libuv poll event bits. */
export const UV_READABLE = 1;
export const UV_WRITABLE = 2;

type LoadResult = { ok: true; binding: NativeBinding } | { ok: false; error: SysError };

function load(): LoadResult {
  if (process.platform !== 'linux') {
    return {
      ok: false,
      error: new SysError(
        'UNSUPPORTED_PLATFORM',
        `@vfu/sys needs Linux (SCM_RIGHTS, memfd, eventfd); this is ${process.platform}`,
      ),
    };
  }
  try {
    // node-gyp-build loads build/Release/vfu_sys.node when the addon was built from source here,
    // else the prebuilt Node-API binary shipped in prebuilds/<platform>-<arch>/. src/ and dist/
    // are both one level below the package directory.
    const require = createRequire(import.meta.url);
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
    const required = nodeGypBuild(fileURLToPath(new URL('..', import.meta.url))) as { platform?: string };
    if (required.platform !== 'linux') {
      return {
        ok: false,
        error: new SysError('UNSUPPORTED_PLATFORM', '@vfu/sys native addon was built without Linux support'),
      };
    }
    return { ok: true, binding: required as NativeBinding };
  } catch (cause) {
    return {
      ok: false,
      error: new SysError(
        'ADDON_NOT_BUILT',
        `@vfu/sys native addon is missing or failed to load (no prebuilt binary for ${process.platform}-${process.arch}); build it with \`node scripts/build-native.mjs\` in the package directory (needs g++, make, python3)`,
        { cause },
      ),
    };
  }
}

// Loaded once when the module is evaluated; never reassigned.
const loaded: LoadResult = load();

/** The native addon, or a clear SysError when it cannot be used on this machine. */
export function native(): NativeBinding {
  if (!loaded.ok) throw loaded.error;
  return loaded.binding;
}

/** Throws a SYSCALL_FAILED SysError when `rc` is a negative errno; returns `rc` otherwise. */
export function check(rc: number, syscall: string, context: { fd?: number; path?: string } = {}): number {
  if (rc < 0) throw syscallError(-rc, syscall, context);
  return rc;
}

/** A SYSCALL_FAILED SysError for a positive `errno`. */
export function syscallError(
  errno: number,
  syscall: string,
  context: { fd?: number; path?: string } = {},
): SysError {
  const where =
    context.path === undefined ? (context.fd === undefined ? '' : ` (fd ${context.fd})`) : ` ${context.path}`;
  return new SysError('SYSCALL_FAILED', `${syscall}${where}: ${native().strerror(errno)}`, {
    syscall,
    errno,
    ...context,
  });
}

/** A poll handle for `fd`; failures (e.g. a regular file) become a SysError. */
export function createPoll(fd: number, callback: (status: number, events: number) => void): NativePoll {
  const Poll = native().Poll;
  try {
    return new Poll(fd, callback);
  } catch (cause) {
    const errno = (cause as { errno?: unknown }).errno;
    if (typeof errno === 'number') throw syscallError(errno, 'uv_poll_init', { fd });
    throw cause;
  }
}
