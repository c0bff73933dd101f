/**
 * A writer for the `newc` cpio format (the one the Linux initramfs unpacker reads). A guest run
 * appends a small archive holding its script to the cached base initramfs, so changing a test never
 * rebuilds the cache. The format: per entry a 110-byte ASCII header of 13 hex fields, the name with
 * its NUL, padding to 4 bytes, the data, padding to 4 bytes; the archive ends with `TRAILER!!!`.
 */
import { InteropError } from './errors';

/** One file or directory of a cpio archive. Paths are relative (`etc/vfu-interop/run.sh`). */
export type CpioEntry =
  | {
      readonly kind: 'file';
      readonly path: string;
      readonly data: Uint8Array | string;
      readonly mode?: number;
    }
  | { readonly kind: 'directory'; readonly path: string; readonly mode?: number };

const NEWC_MAGIC = '070701';
const NEWC_HEADER_SIZE = 110;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const TRAILER = 'TRAILER!!!';

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

function hex8(value: number): string {
  return value.toString(16).padStart(8, '0');
}

function header(ino: number, mode: number, nlink: number, fileSize: number, nameSize: number): string {
  // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor,
  // namesize, check. mtime is 0 so that archives are reproducible.
  return NEWC_MAGIC + [ino, mode, 0, 0, nlink, 0, fileSize, 0, 0, 0, 0, nameSize, 0].map(hex8).join('');
}

/**
 * Encodes `entries` as a newc archive, in the given order (list a directory before its files).
 * Throws `invalid-argument` for an absolute, empty or `..` path, or a file larger than 4 GiB.
 */
export function encodeCpioNewc(entries: readonly CpioEntry[]): Uint8Array {
  const encoder = new TextEncoder();
  const chunks: Uint8Array[] = [];
  let ino = 1;
  const push = (headerText: string, name: string, data: Uint8Array): void => {
    const nameBytes = encoder.encode(`${name}\0`);
    chunks.push(
      encoder.encode(headerText),
      nameBytes,
      new Uint8Array(pad4(NEWC_HEADER_SIZE + nameBytes.length)),
    );
    chunks.push(data, new Uint8Array(pad4(data.length)));
  };
  for (const entry of entries) {
    const { path } = entry;
    if (path === '' || path.startsWith('/') || path.split('/').includes('..')) {
      throw new InteropError(
        'invalid-argument',
        `cpio entry path must be relative and inside the archive: '${path}'`,
        {
          path,
        },
      );
    }
    const nameSize = encoder.encode(path).length + 1;
    if (entry.kind === 'directory') {
      push(header(ino++, S_IFDIR | (entry.mode ?? 0o755), 2, 0, nameSize), path, new Uint8Array(0));
    } else {
      const data = typeof entry.data === 'string' ? encoder.encode(entry.data) : entry.data;
      if (data.length > 0xffff_ffff) {
        throw new InteropError(
          'invalid-argument',
          `cpio entry '${path}' is ${data.length} bytes; newc holds at most 4 GiB`,
          {
            path,
          },
        );
      }
      push(header(ino++, S_IFREG | (entry.mode ?? 0o644), 1, data.length, nameSize), path, data);
    }
  }
  push(header(0, 0, 1, 0, TRAILER.length + 1), TRAILER, new Uint8Array(0));
  const total = chunks.reduce((sum, c) => sum + c.length, 0);
  // Pad to 512 bytes as cpio(1) does; the kernel skips the zeros before the next archive.
  const out = new Uint8Array(total + ((512 - (total % 512)) % 512));
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}
