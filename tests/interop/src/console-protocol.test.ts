import { describe, expect, test } from 'vitest';
import { ConsoleLineSplitter, parseConsoleLine, tailLines } from './console-protocol';

describe('parseConsoleLine', () => {
  test('reads every kind of protocol line', () => {
    expect(parseConsoleLine('@@vfu-interop init nonce=ab12')).toEqual({ kind: 'init', nonce: 'ab12' });
    expect(parseConsoleLine('@@vfu-interop check ok found-edu')).toEqual({
      kind: 'check',
      check: { name: 'found-edu', ok: true, detail: '' },
    });
    expect(parseConsoleLine("@@vfu-interop check fail ident expected '0x1', got '0x2'")).toEqual({
      kind: 'check',
      check: { name: 'ident', ok: false, detail: "expected '0x1', got '0x2'" },
    });
    expect(parseConsoleLine('@@vfu-interop value bar.0 mem32 0xfea00000 0x100000')).toEqual({
      kind: 'value',
      key: 'bar.0',
      value: 'mem32 0xfea00000 0x100000',
    });
    expect(parseConsoleLine('@@vfu-interop value empty')).toEqual({ kind: 'value', key: 'empty', value: '' });
    expect(parseConsoleLine('@@vfu-interop mark hotplug')).toEqual({ kind: 'mark', name: 'hotplug' });
    expect(parseConsoleLine('@@vfu-interop result rc=3 nonce=ab12')).toEqual({
      kind: 'result',
      rc: 3,
      nonce: 'ab12',
    });
  });

  test('finds a protocol line behind kernel output printed on the same line', () => {
    expect(parseConsoleLine('[    4.1] random: crng init done@@vfu-interop mark x')).toEqual({
      kind: 'mark',
      name: 'x',
    });
  });

  test('ordinary and malformed lines are not events', () => {
    for (const line of [
      '[    0.000000] Linux version 6.12',
      '@@vfu-interop',
      '@@vfu-interop bogus 1',
      '@@vfu-interop check maybe x',
      '@@vfu-interop check ok',
      '@@vfu-interop result rc=x nonce=1',
      '@@vfu-interop init',
      '@@vfu-interop mark',
    ]) {
      expect(parseConsoleLine(line)).toBeUndefined();
    }
  });
});

describe('ConsoleLineSplitter', () => {
  test('joins lines split across chunks and drops CRs', () => {
    const s = new ConsoleLineSplitter();
    expect(s.push('ab')).toEqual([]);
    expect(s.push('c\r\nde')).toEqual(['abc']);
    expect(s.push('f\r\n\r\ng')).toEqual(['def', '']);
    expect(s.flush()).toEqual(['g']);
    expect(s.flush()).toEqual([]);
  });
});

test('tailLines keeps the last lines', () => {
  expect(tailLines('a\nb\nc\n', 2)).toBe('b\nc');
  expect(tailLines('a\r\nb', 5)).toBe('a\nb');
});
