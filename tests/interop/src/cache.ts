/**
 * The prepared guest environment that `setup.sh` leaves outside the repository: a root filesystem
 * with QEMU (vfio-user client), the guest kernel and the base initramfs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InteropError } from './errors';

/** Base folder of the per-recipe caches `setup.sh` builds, unless `VFU_INTEROP_CACHE_BASE` says otherwise. */
export const DEFAULT_INTEROP_CACHE_DIR = '/var/cache/vfu-interop';

/** The cache folder of this checkout's recipe, as `setup.sh --print-cache-dir` names it. */
function recipeCacheDir(): string {
  const setup = fileURLToPath(new URL('../setup.sh', import.meta.url));
  return execFileSync('bash', [setup, '--print-cache-dir'], { encoding: 'utf8' }).trim();
}

/** Paths (host side) of a prepared interop cache. */
export interface InteropCache {
  readonly dir: string;
  /** Root filesystem QEMU runs in (chroot). */
  readonly rootfs: string;
  /** Guest kernel image. */
  readonly kernel: string;
  /** Base initramfs (gzip-compressed newc cpio). */
  readonly initramfs: string;
  /** `uname -r` of the guest kernel. */
  readonly kernelRelease: string;
  /** First line of `qemu-system-x86_64 --version`. */
  readonly qemuVersion: string;
}

/**
 * Locates the interop cache (`dir`, else `$VFU_INTEROP_CACHE`, else the folder `setup.sh` builds for
 * this checkout's recipe under {@link DEFAULT_INTEROP_CACHE_DIR})
 * and checks it is complete. Throws `cache-missing`, naming the file and the command that makes it.
 */
export function resolveInteropCache(dir?: string): InteropCache {
  const root = dir ?? process.env.VFU_INTEROP_CACHE ?? recipeCacheDir();
  const cache = {
    dir: root,
    rootfs: join(root, 'rootfs'),
    kernel: join(root, 'guest', 'vmlinuz'),
    initramfs: join(root, 'guest', 'initramfs.cpio.gz'),
  };
  const required = [
    join(root, 'stamp'),
    join(cache.rootfs, 'usr/bin/qemu-system-x86_64'),
    cache.kernel,
    cache.initramfs,
    join(root, 'guest', 'kernel-release'),
    join(root, 'guest', 'qemu-version'),
  ];
  for (const path of required) {
    if (!existsSync(path)) {
      throw new InteropError(
        'cache-missing',
        `interop cache incomplete: ${path} is missing; run 'bash tests/interop/setup.sh' (as root) first`,
        { path },
      );
    }
  }
  return {
    ...cache,
    kernelRelease: readFileSync(join(root, 'guest', 'kernel-release'), 'utf8').trim(),
    qemuVersion: readFileSync(join(root, 'guest', 'qemu-version'), 'utf8').trim(),
  };
}
