import { describe, expect, test } from 'vitest';
import { isPciError, isQdevError, PciError, QdevError } from './errors';

describe('errors', () => {
  test('carry code, context and cause; guards check shape', () => {
    const cause = new Error('inner');
    const q = new QdevError('ambiguous-bus', 'pick one', { driver: 'edu', candidates: ['s0', 's1'], cause });
    expect(q.code).toBe('ambiguous-bus');
    expect(q.context.candidates).toEqual(['s0', 's1']);
    expect(q.cause).toBe(cause);
    expect(isQdevError(q)).toBe(true);
    expect(isPciError(q)).toBe(false);
    const p = new PciError('devfn-in-use', 'taken', { devfn: 0x20, busId: 's0' });
    expect(p.context.devfn).toBe(0x20);
    expect(isPciError(p)).toBe(true);
    expect(isPciError({ name: 'PciError', code: 'x' })).toBe(false);
    expect(isQdevError(new Error('plain'))).toBe(false);
  });
});
