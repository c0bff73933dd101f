import { readFileSync } from 'node:fs';
import { expectNoFdLeaks, ownFds } from '@vfu/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSysError, SysError } from './errors';
import { closeFd, closeFdsQuietly, createMemfd, OwnedFd, Seal } from './owned-fd';

expectNoFdLeaks({ beforeEach, afterEach });

function isCloexec(fd: number): boolean {
  const flags = /flags:\s*(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!;
  return (Number.parseInt(flags, 8) & 0o2000000) !== 0;
}

describe('OwnedFd', () => {
  it('closes once and reports FD_CLOSED afterwards', () => {
    const fd = createMemfd('owned');
    const n = fd.fd;
    expect(ownFds().has(n)).toBe(true);
    fd.close();
    fd.close();
    expect(fd.closed).toBe(true);
    expect(ownFds().has(n)).toBe(false);
    expect(() => fd.fd).toThrow(expect.objectContaining({ code: 'FD_CLOSED' }));
    expect(() => fd.size()).toThrow(SysError);
  });

  it('release hands over the number without closing it', () => {
    const fd = createMemfd('released');
    const n = fd.release();
    expect(fd.closed).toBe(true);
    expect(ownFds().has(n)).toBe(true);
    closeFd(n);
    expect(ownFds().has(n)).toBe(false);
  });

  it('dup gives an independent close-on-exec descriptor for the same file', () => {
    const fd = createMemfd('dup', { size: 8192 });
    const copy = fd.dup();
    expect(copy.fd).not.toBe(fd.fd);
    expect(isCloexec(copy.fd)).toBe(true);
    fd.close();
    expect(copy.size()).toBe(8192);
    copy.close();
  });

  it('rejects numbers that cannot be descriptors', () => {
    expect(() => new OwnedFd(-1)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => new OwnedFd(1.5)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('closeFd of a descriptor that is not open fails with EBADF and the syscall name', () => {
    const fd = createMemfd('gone');
    const n = fd.release();
    closeFd(n);
    let caught: unknown;
    try {
      closeFd(n);
    } catch (error) {
      caught = error;
    }
    expect(isSysError(caught)).toBe(true);
    expect(caught).toMatchObject({
      code: 'SYSCALL_FAILED',
      syscall: 'close',
      errno: 9,
      errnoName: 'EBADF',
      fd: n,
    });
  });

  it('closeFdsQuietly closes what it can and skips invalid numbers', () => {
    const a = createMemfd('a').release();
    const b = createMemfd('b').release();
    closeFdsQuietly([a, -1, b, a]);
    expect(ownFds().has(a) || ownFds().has(b)).toBe(false);
  });
});

describe('createMemfd', () => {
  it('creates a close-on-exec memfd of the requested size', () => {
    const fd = createMemfd('ram', { size: 1 << 20 });
    expect(fd.size()).toBe(1 << 20);
    expect(isCloexec(fd.fd)).toBe(true);
    expect(fd.access()).toBe('readwrite');
    fd.truncate(4096);
    expect(fd.size()).toBe(4096);
    fd.close();
  });

  it('supports seals when allowed and refuses them otherwise', () => {
    const sealed = createMemfd('sealed', { size: 4096 });
    sealed.addSeals(Seal.SHRINK | Seal.GROW);
    expect(sealed.seals() & (Seal.SHRINK | Seal.GROW)).toBe(Seal.SHRINK | Seal.GROW);
    expect(() => sealed.truncate(0)).toThrow(
      expect.objectContaining({ syscall: 'ftruncate', errnoName: 'EPERM' }),
    );
    sealed.close();

    const plain = createMemfd('plain', { allowSealing: false });
    expect(() => plain.addSeals(Seal.SHRINK)).toThrow(expect.objectContaining({ errnoName: 'EPERM' }));
    plain.close();
  });

  it('rejects bad names and sizes without leaking the fd', () => {
    expect(() => createMemfd('x'.repeat(300))).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => createMemfd('nul\0')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => createMemfd('neg', { size: -1 })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});
