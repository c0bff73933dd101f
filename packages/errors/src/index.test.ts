import { describe, expect, it } from 'vitest';
import { errnoOf, hex, isVfuError, VfuError } from './index.ts';

class SampleError extends VfuError<'bad-bar' | 'busy', { bar?: number; errno?: number; cause?: unknown }> {
  override readonly name = 'SampleError';
}

describe('VfuError', () => {
  it('keeps code, message and the whole context as one field', () => {
    const e = new SampleError('bad-bar', 'BAR 7 is not implemented', { bar: 7, errno: 22 });
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('SampleError');
    expect(e.code).toBe('bad-bar');
    expect(e.message).toBe('BAR 7 is not implemented');
    expect(e.context).toEqual({ bar: 7, errno: 22 });
    expect(e.errno).toBe(22);
  });

  it('passes cause on to Error.cause', () => {
    const root = new Error('root');
    const e = new SampleError('busy', 'busy', { cause: root });
    expect(e.cause).toBe(root);
    expect(new SampleError('busy', 'busy').cause).toBeUndefined();
  });

  it('is recognised by shape, optionally by class name', () => {
    const e = new SampleError('busy', 'x');
    expect(isVfuError(e)).toBe(true);
    expect(isVfuError(e, 'SampleError')).toBe(true);
    expect(isVfuError(e, 'PciError')).toBe(false);
    // A copy from another instance of the package: same shape, different class.
    const foreign = Object.assign(new Error('x'), { code: 'busy', context: {} });
    expect(isVfuError(foreign)).toBe(true);
    expect(isVfuError(new Error('plain'))).toBe(false);
    expect(isVfuError({ code: 'x', context: {} })).toBe(false);
  });
});

describe('hex', () => {
  it('formats numbers and bigints in lower case with an optional width', () => {
    expect(hex(0)).toBe('0x0');
    expect(hex(0xabc)).toBe('0xabc');
    expect(hex(0x1fn, 4)).toBe('0x001f');
    expect(hex(0xffff_ffff_ffff_ffffn)).toBe('0xffffffffffffffff');
    expect(hex(-16)).toBe('-0x10');
  });
});

describe('errnoOf', () => {
  it('reads a vfu error context errno first', () => {
    expect(errnoOf(new SampleError('busy', 'x', { errno: 16 }))).toBe(16);
  });

  it('turns libuv negative errnos positive and ignores non-errnos', () => {
    const enoent = Object.assign(new Error('ENOENT'), { errno: -2, code: 'ENOENT' });
    expect(errnoOf(enoent)).toBe(2);
    expect(errnoOf(Object.assign(new Error('x'), { errno: 22 }))).toBe(22);
    expect(errnoOf(Object.assign(new Error('x'), { errno: 70000 }))).toBeUndefined();
    expect(errnoOf(Object.assign(new Error('x'), { errno: 1.5 }))).toBeUndefined();
    expect(errnoOf(new Error('x'))).toBeUndefined();
    expect(errnoOf(new SampleError('busy', 'x'))).toBeUndefined();
    expect(errnoOf(null)).toBeUndefined();
    expect(errnoOf('EIO')).toBeUndefined();
  });
});
