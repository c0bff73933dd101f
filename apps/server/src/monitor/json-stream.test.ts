import { describe, expect, it } from 'vitest';
import { JsonStreamSplitter } from './json-stream';

describe('JsonStreamSplitter', () => {
  it('splits objects back to back, across any chunking', () => {
    const text = '{"execute":"a"}{"execute":"b","arguments":{"s":"}{\\"x"}}\n  {"id":[1,{"z":2}]}';
    const expected = [{ execute: 'a' }, { execute: 'b', arguments: { s: '}{"x' } }, { id: [1, { z: 2 }] }];
    for (let cut = 0; cut <= text.length; cut++) {
      const s = new JsonStreamSplitter();
      const items = [...s.push(text.slice(0, cut)), ...s.push(text.slice(cut))];
      expect(items).toEqual(expected.map((value) => ({ kind: 'value', value })));
      expect(s.pending).toBe(false);
    }
  });

  it('reports a non-object line and resumes after it', () => {
    const s = new JsonStreamSplitter();
    expect(s.push('hello there\n{"execute":"x"}')).toEqual([
      { kind: 'error', message: 'expected a JSON object, got "hello there"' },
      { kind: 'value', value: { execute: 'x' } },
    ]);
  });

  it('reports bad JSON inside balanced braces and resumes', () => {
    const s = new JsonStreamSplitter();
    const [bad, good] = s.push('{"a":,}{"b":1}');
    expect(bad).toMatchObject({ kind: 'error', message: expect.stringMatching(/^invalid JSON/) });
    expect(good).toEqual({ kind: 'value', value: { b: 1 } });
  });

  it('refuses an over-long message without keeping it', () => {
    const s = new JsonStreamSplitter(32);
    expect(s.push(`{"a":"${'x'.repeat(100)}"}{"ok":true}`)).toEqual([
      { kind: 'error', message: 'message longer than 32 bytes' },
      { kind: 'value', value: { ok: true } },
    ]);
  });

  it('waits for the rest of a partial message', () => {
    const s = new JsonStreamSplitter();
    expect(s.push('{"execute": "qu')).toEqual([]);
    expect(s.pending).toBe(true);
    expect(s.push('it"}')).toEqual([{ kind: 'value', value: { execute: 'quit' } }]);
  });
});
