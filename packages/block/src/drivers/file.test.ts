import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from '@vfu/test-utils';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { isBlockError } from '../errors';
import { FileBackend, type FileSyscalls, nodeFileSyscalls } from './file';

// tmpfs: hole punching works and st_blocks shows it; O_DIRECT does not.
const shm = mkdtempSync('/dev/shm/vfu-block-');
afterAll(() => rmSync(shm, { recursive: true, force: true }));

let counter = 0;
function imageOf(size: number, fill = 0xaa, dir = shm): string {
  const path = join(dir, `img${counter++}`);
  writeFileSync(path, Buffer.alloc(size, fill));
  return path;
}

async function openFile(filename: string, extra: Partial<Parameters<typeof FileBackend.open>[0]> = {}) {
  const b = await FileBackend.open({ filename, ...extra });
  onTestFinished(() => b.close());
  return b;
}

describe('file driver', () => {
  it('reads and writes scatter-gather lists in place', async () => {
    const path = imageOf(64 * 1024, 0);
    const b = await openFile(path);
    expect(b.size).toBe(64 * 1024);
    const parts = [new Uint8Array(1000).fill(1), new Uint8Array(3096).fill(2), new Uint8Array(100).fill(3)];
    await b.writev(512, parts);
    const file = readFileSync(path);
    expect(file[511]).toBe(0);
    expect(file[512]).toBe(1);
    expect(file[1512]).toBe(2);
    expect(file[512 + 4096]).toBe(3);
    expect(file[512 + 4196]).toBe(0);
    const back = [new Uint8Array(7), new Uint8Array(4189)];
    await b.readv(512, back);
    expect(Buffer.concat(back).equals(file.subarray(512, 512 + 4196))).toBe(true);
  });

  it('discard punches a hole: zeros read back and st_blocks drop by the range', async () => {
    const path = imageOf(1 << 20);
    const b = await openFile(path);
    const before = statSync(path).blocks;
    await b.discard(64 * 1024, 256 * 1024);
    const after = statSync(path);
    expect(after.size).toBe(1 << 20);
    expect(before - after.blocks).toBe((256 * 1024) / 512);
    const out = new Uint8Array(256 * 1024 + 2);
    await b.readv(64 * 1024 - 1, out);
    expect(out[0]).toBe(0xaa);
    expect(out.subarray(1, -1).every((x) => x === 0)).toBe(true);
    expect(out[out.length - 1]).toBe(0xaa);
  });

  it('discard=ignore keeps the data', async () => {
    const path = imageOf(64 * 1024);
    const b = await openFile(path, { discard: 'ignore' });
    await b.discard(0, 64 * 1024);
    expect(readFileSync(path).every((x) => x === 0xaa)).toBe(true);
    expect(b.capabilities.discard).toBe(false);
  });

  it('write-zeroes zeroes the range; with may-unmap it also releases the blocks', async () => {
    const path = imageOf(1 << 20);
    const b = await openFile(path);
    const full = statSync(path).blocks;
    await b.writeZeroes(0, 128 * 1024);
    // Without may-unmap the range stays allocated (tmpfs: punch, then allocate again).
    expect(statSync(path).blocks).toBe(full);
    await b.writeZeroes(512 * 1024, 128 * 1024, { mayUnmap: true });
    expect(full - statSync(path).blocks).toBe((128 * 1024) / 512);
    const data = readFileSync(path);
    expect(data.subarray(0, 128 * 1024).every((x) => x === 0)).toBe(true);
    expect(data[128 * 1024]).toBe(0xaa);
    expect(data.subarray(512 * 1024, 640 * 1024).every((x) => x === 0)).toBe(true);
  });

  it('writes zeros itself when the filesystem cannot fallocate', async () => {
    const path = imageOf(256 * 1024);
    const noFallocate: FileSyscalls = {
      ...nodeFileSyscalls,
      fallocate: () => Promise.reject(Object.assign(new Error('not supported'), { code: 'EOPNOTSUPP' })),
    };
    const b = await openFile(path, { syscalls: noFallocate });
    await b.writeZeroes(1000, 100_000, { mayUnmap: true });
    const data = readFileSync(path);
    expect(data[999]).toBe(0xaa);
    expect(data.subarray(1000, 101_000).every((x) => x === 0)).toBe(true);
    expect(data[101_000]).toBe(0xaa);
    await b.discard(0, 4096); // advisory: accepted, nothing changes
    expect(b.capabilities.discard).toBe(false);
  });

  it('flush and FUA writes call fdatasync; cache.no-flush skips it', async () => {
    const calls: string[] = [];
    const counting: FileSyscalls = {
      ...nodeFileSyscalls,
      fdatasync: (fd) => {
        calls.push('fdatasync');
        return nodeFileSyscalls.fdatasync(fd);
      },
    };
    const b = await openFile(imageOf(8192), { syscalls: counting });
    await b.writev(0, new Uint8Array(512));
    expect(calls).toEqual([]);
    await b.writev(0, new Uint8Array(512), { fua: true });
    await b.flush();
    await b.writeZeroes(0, 512, { fua: true });
    expect(calls).toEqual(['fdatasync', 'fdatasync', 'fdatasync']);
    const unsafe = await openFile(imageOf(8192), { syscalls: counting, noFlush: true });
    await unsafe.flush();
    expect(calls).toHaveLength(3);
  });

  it('maps a backing EIO to an io-failed error with errno EIO and the request context', async () => {
    const failing: FileSyscalls = {
      ...nodeFileSyscalls,
      readv: () => Promise.reject(Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' })),
      fdatasync: () => Promise.reject(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })),
    };
    const b = await openFile(imageOf(8192), { syscalls: failing });
    await expect(b.readv(4096, new Uint8Array(512))).rejects.toMatchObject({
      code: 'io-failed',
      errnoName: 'EIO',
      errno: 5,
      context: { op: 'read', offset: 4096, length: 512, driver: 'file' },
    });
    await expect(b.flush()).rejects.toMatchObject({ errnoName: 'EIO', context: { op: 'flush' } });
    // The backend stays usable for requests that do not fail.
    await b.writev(0, new Uint8Array(512));
  });

  it('read-only=on opens a read-only file and rejects writes with EROFS', async () => {
    const path = imageOf(4096);
    execFileSync('chmod', ['0444', path]);
    const b = await openFile(path, { readOnly: true });
    await b.readv(0, new Uint8Array(512));
    await expect(b.writev(0, new Uint8Array(512))).rejects.toMatchObject({
      code: 'read-only',
      errnoName: 'EROFS',
    });
    await expect(b.discard(0, 512)).rejects.toMatchObject({ errnoName: 'EROFS' });
  });

  it('opening fails with a clear typed error', async () => {
    await expect(FileBackend.open({ filename: join(shm, 'missing') })).rejects.toMatchObject({
      code: 'open-failed',
      errnoName: 'ENOENT',
    });
    await expect(FileBackend.open({ filename: shm })).rejects.toMatchObject({ code: 'open-failed' });
    // Kernels before 6.6 refuse O_DIRECT on tmpfs with EINVAL at open; provoke that answer here.
    const noDirect: FileSyscalls = {
      ...nodeFileSyscalls,
      open: () =>
        Promise.reject(Object.assign(new Error('EINVAL: invalid argument, open'), { code: 'EINVAL' })),
    };
    const err = await FileBackend.open({ filename: imageOf(4096), direct: true, syscalls: noDirect }).catch(
      (e: unknown) => e,
    );
    expect(isBlockError(err) && err.context.option).toBe('cache.direct');
    expect((err as Error).message).toMatch(/does not support O_DIRECT.*cache\.direct=off/);
  });

  it('cache.direct=on works on a disk filesystem, through a bounce buffer for unaligned memory', async () => {
    const dir = makeTempDir('vfu-direct-');
    onTestFinished(() => dir.remove());
    // A disk filesystem if /tmp is one; tmpfs has O_DIRECT too since Linux 6.6.
    const path = imageOf(64 * 1024, 0x11, dir.path);
    const b = await FileBackend.open({ filename: path, direct: true }).catch((e: unknown) => e);
    if (isBlockError(b)) {
      // The temp dir's filesystem may itself lack O_DIRECT (tmpfs /tmp); then there is nothing to test.
      expect(b.context.option).toBe('cache.direct');
      return;
    }
    const backend = b as FileBackend;
    onTestFinished(() => backend.close());
    // A view at an odd offset of an ordinary buffer is never 512-aligned in memory.
    const odd = new Uint8Array(8192 + 1).subarray(1).fill(0x22);
    await backend.writev(4096, odd, { fua: true });
    const back = new Uint8Array(4096 + 3).subarray(3);
    await backend.readv(8192, back);
    expect(back.every((x) => x === 0x22)).toBe(true);
    await expect(backend.readv(100, new Uint8Array(512))).rejects.toMatchObject({ code: 'unaligned' });
  });

  it('a full filesystem fails writes with ENOSPC', async (ctx) => {
    if (process.getuid?.() !== 0) {
      if (process.env.CI === 'true')
        throw new Error('the ENOSPC test mounts a tmpfs and needs root under CI');
      console.log('skipping ENOSPC test: mounting a small tmpfs needs root');
      ctx.skip();
    }
    const mnt = join(shm, `small${counter++}`);
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'vfu-enospc', mnt]);
    onTestFinished(() => {
      execFileSync('umount', ['-l', mnt]);
    });
    // Sparse: 1 MiB of size on a 64 KiB filesystem.
    const path = join(mnt, 'sparse.img');
    writeFileSync(path, '');
    execFileSync('truncate', ['-s', '1M', path]);
    const b = await openFile(path);
    await expect(b.writev(0, new Uint8Array(512 * 1024).fill(5))).rejects.toMatchObject({
      code: 'io-failed',
      errnoName: 'ENOSPC',
      errno: 28,
      context: { op: 'write' },
    });
    await expect(b.writeZeroes(0, 1 << 20)).rejects.toMatchObject({ errnoName: 'ENOSPC' });
  });

  it('keeps the event loop free while the disk works', async () => {
    const b = await openFile(imageOf(4 << 20));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    onTestFinished(() => clearInterval(timer));
    const buf = new Uint8Array(4 << 20);
    for (let i = 0; i < 8; i++) await b.writev(0, buf, { fua: true });
    // Every request was handed to the threadpool, so timers ran between them.
    expect(ticks).toBeGreaterThan(0);
  });
});
