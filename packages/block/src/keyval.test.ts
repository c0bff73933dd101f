import { describe, expect, it } from 'vitest';
import { parseKeyval } from './keyval';

describe('parseKeyval', () => {
  it('nests dotted keys and keeps values as strings', () => {
    expect(
      parseKeyval('driver=nbd,node-name=n0,server.type=unix,server.path=/run/x.sock,cache.direct=on'),
    ).toEqual({
      driver: 'nbd',
      'node-name': 'n0',
      server: { type: 'unix', path: '/run/x.sock' },
      cache: { direct: 'on' },
    });
  });

  it('reads ",," as a comma inside a value and allows empty values', () => {
    expect(parseKeyval('filename=/a,,b.img,export=')).toEqual({ filename: '/a,b.img', export: '' });
  });

  it.each([
    ['driver', "Expected '=' after parameter 'driver'"],
    ['a=1,a=2', "Parameter 'a' given more than once"],
    ['a=1,a.b=2', "Parameter 'a' is a value and an object at once"],
    ['a b=1', "Invalid parameter 'a b'"],
    ['', 'empty option string'],
  ])('rejects %j', (text, message) => {
    expect(() => parseKeyval(text)).toThrow(message);
  });
});
