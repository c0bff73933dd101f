import { closeSync, fstatSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from '@vfu/test-utils';
import { describe, expect, it, onTestFinished } from 'vitest';
import { allocAligned, FallocateMode, fallocate } from './block-io';
import { isSysError } from './errors';

// /dev/shm is tmpfs, which supports hole punching on every kernel we run on.
const SHM = '/dev/shm';

describe('fallocate', () => {
  it('punches a hole: the range reads as zeros and its blocks are released', async () => {
    const path = join(SHM, `vfu-falloc-${process.pid}`);
    writeFileSync(path, Buffer.alloc(1 << 20, 0xab));
    const fd = openSync(path, 'r+');
    onTestFinished(() => {
      closeSync(fd);
      rmSync(path, { force: true });
    });
    const before = fstatSync(fd).blocks;
    await fallocate(fd, FallocateMode.PUNCH_HOLE | FallocateMode.KEEP_SIZE, 4096, 512 * 1024);
    const after = fstatSync(fd);
    expect(after.size).toBe(1 << 20);
    expect(before - after.blocks).toBe((512 * 1024) / 512);
    const data = readFileSync(path);
    expect(data[4095]).toBe(0xab);
    expect(data.subarray(4096, 4096 + 512 * 1024).every((b) => b === 0)).toBe(true);
    expect(data[4096 + 512 * 1024]).toBe(0xab);
  });

  it('rejects with a typed error carrying the errno', async () => {
    const dir = makeTempDir();
    onTestFinished(() => dir.remove());
    const fd = openSync(dir.join('f'), 'w+');
    closeSync(fd);
    const err = await fallocate(fd, FallocateMode.PUNCH_HOLE | FallocateMode.KEEP_SIZE, 0, 4096).catch(
      (e: unknown) => e,
    );
    expect(isSysError(err) && err.errnoName).toBe('EBADF');
  });

  it('rejects a bad range before calling the kernel', async () => {
    await expect(fallocate(0, 0, -1, 10)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

describe('allocAligned', () => {
  it('returns a zeroed buffer of the size asked', () => {
    const b = allocAligned(8192, 4096);
    expect(b.length).toBe(8192);
    expect(b.every((x) => x === 0)).toBe(true);
  });

  it('refuses an alignment that is not a power of two', () => {
    expect(() => allocAligned(4096, 3000)).toThrow(/allocAligned/);
  });
});
