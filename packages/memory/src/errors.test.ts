import { VfuError } from '@vfu/errors';
import { describe, expect, it } from 'vitest';
import { isMemoryError, MemoryError } from './errors';

describe('MemoryError', () => {
  it('carries code, region, address and cause, and names them in the message', () => {
    const cause = new Error('low level');
    const e = new MemoryError('out-of-range', 'access runs past the end', {
      regionName: 'bar0',
      address: 0x1_0000_0000n,
      cause,
    });
    expect(e).toBeInstanceOf(VfuError);
    expect(e.name).toBe('MemoryError');
    expect(e.code).toBe('out-of-range');
    expect(e.context).toEqual({ regionName: 'bar0', address: 0x1_0000_0000n, cause });
    expect(e.cause).toBe(cause);
    expect(e.message).toBe('access runs past the end (region "bar0", address 0x100000000)');
  });

  it('isMemoryError checks shape, so a copy from another package instance is recognised', () => {
    expect(isMemoryError(new MemoryError('cycle', 'x'))).toBe(true);
    const copy = Object.assign(new Error('x'), { name: 'MemoryError', code: 'cycle', context: {} });
    expect(isMemoryError(copy)).toBe(true);
    expect(isMemoryError(Object.assign(copy, { code: 'made-up' }))).toBe(false);
    expect(
      isMemoryError(Object.assign(new Error('x'), { name: 'PciError', code: 'cycle', context: {} })),
    ).toBe(false);
    expect(isMemoryError(new Error('x'))).toBe(false);
    expect(isMemoryError(null)).toBe(false);
  });
});
