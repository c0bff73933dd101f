import { describe, expect, it } from 'vitest';
import { hex, isMemoryError, MemoryError } from './errors';

describe('MemoryError', () => {
  it('carries code, region, address and cause, and names them in the message', () => {
    const cause = new Error('low level');
    const e = new MemoryError('out-of-range', 'access runs past the end', {
      regionName: 'bar0',
      address: 0x1_0000_0000n,
      cause,
    });
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('MemoryError');
    expect(e.code).toBe('out-of-range');
    expect(e.regionName).toBe('bar0');
    expect(e.address).toBe(0x1_0000_0000n);
    expect(e.cause).toBe(cause);
    expect(e.message).toBe('access runs past the end (region "bar0", address 0x100000000)');
  });

  it('isMemoryError checks shape, so a copy from another package instance is recognised', () => {
    expect(isMemoryError(new MemoryError('cycle', 'x'))).toBe(true);
    expect(isMemoryError({ name: 'MemoryError', code: 'cycle', message: 'x' })).toBe(true);
    expect(isMemoryError({ name: 'MemoryError', code: 'made-up', message: 'x' })).toBe(false);
    expect(isMemoryError(new Error('x'))).toBe(false);
    expect(isMemoryError(null)).toBe(false);
  });

  it('hex prints addresses in lower-case with 0x', () => {
    expect(hex(0xdeadn)).toBe('0xdead');
    expect(hex(255)).toBe('0xff');
  });
});
