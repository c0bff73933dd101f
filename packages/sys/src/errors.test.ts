import { describe, expect, it } from 'vitest';
import { errnoName, isSysError, SysError } from './errors';

describe('SysError', () => {
  it('carries code, syscall, errno with its name, fd and cause', () => {
    const cause = new Error('inner');
    const e = new SysError('SYSCALL_FAILED', 'recvmsg: boom', {
      syscall: 'recvmsg',
      errno: 104,
      fd: 7,
      cause,
    });
    expect(e).toMatchObject({
      name: 'SysError',
      code: 'SYSCALL_FAILED',
      syscall: 'recvmsg',
      errno: 104,
      fd: 7,
    });
    expect(e.errnoName).toBe('ECONNRESET');
    expect(e.cause).toBe(cause);
    expect(e.path).toBeUndefined();
  });

  it('isSysError checks the shape, so a copy from another package instance also passes', () => {
    const foreign = Object.assign(new Error('x'), { name: 'SysError', code: 'FD_CLOSED', context: {} });
    expect(isSysError(foreign)).toBe(true);
    expect(isSysError(new SysError('FD_CLOSED', 'x'))).toBe(true);
    expect(isSysError(new Error('x'))).toBe(false);
    expect(isSysError({ name: 'SysError', code: 'FD_CLOSED' })).toBe(false);
  });

  it('names errno values and falls back for unknown ones', () => {
    expect(errnoName(11)).toBe('EAGAIN');
    expect(errnoName(99999)).toMatch(/99999/);
  });
});
