import { describe, expect, it } from 'vitest';
import { parseBlockdevOptions } from './blockdev-options';

describe('parseBlockdevOptions', () => {
  it('types a file node from a -blockdev string', () => {
    expect(
      parseBlockdevOptions(
        'driver=file,node-name=disk0,filename=/var/d.img,read-only=on,cache.direct=on,discard=on',
      ),
    ).toEqual({
      driver: 'file',
      'node-name': 'disk0',
      filename: '/var/d.img',
      'read-only': true,
      cache: { direct: true },
      discard: 'unmap',
    });
  });

  it('reads null-co sizes with suffixes, as QEMU does', () => {
    expect(parseBlockdevOptions('driver=null-co,node-name=n,size=64M,read-zeroes=on')).toEqual({
      driver: 'null-co',
      'node-name': 'n',
      size: 64 * 2 ** 20,
      'read-zeroes': true,
    });
  });

  it('takes the blockdev-add JSON form with typed values', () => {
    expect(
      parseBlockdevOptions({
        driver: 'nbd',
        'node-name': 'remote',
        server: { type: 'inet', host: '127.0.0.1', port: 10809 },
        export: 'disk',
        'reconnect-delay': 5,
      }),
    ).toEqual({
      driver: 'nbd',
      'node-name': 'remote',
      server: { type: 'inet', host: '127.0.0.1', port: '10809' },
      export: 'disk',
      'reconnect-delay': 5,
    });
    expect(
      parseBlockdevOptions('driver=nbd,node-name=u,server.type=unix,server.path=/run/nbd.sock'),
    ).toMatchObject({ server: { type: 'unix', path: '/run/nbd.sock' } });
  });

  it.each([
    ['node-name=x,filename=/f', "Parameter 'driver' is missing", 'driver'],
    ['driver=qcow2,node-name=x', "unknown block driver 'qcow2'", 'driver'],
    ['driver=file,filename=/f', "Parameter 'node-name' is missing", 'node-name'],
    ['driver=file,node-name=x', "Parameter 'filename' is missing", 'filename'],
    ['driver=file,node-name=x,filename=/f,bogus=1', "Parameter 'bogus' is unexpected", 'bogus'],
    [
      'driver=file,node-name=x,filename=/f,cache.bogus=1',
      "Parameter 'cache.bogus' is unexpected",
      'cache.bogus',
    ],
    [
      'driver=file,node-name=x,filename=/f,read-only=maybe',
      "Parameter 'read-only' expects 'on' or 'off'",
      'read-only',
    ],
    ['driver=file,node-name=1x,filename=/f', "Invalid node-name: '1x'", 'node-name'],
    ['driver=null-co,node-name=x,size=lots', "Parameter 'size' expects a size", 'size'],
    ['driver=nbd,node-name=x,server.type=unix', "Parameter 'server.path' is missing", 'server.path'],
    [
      'driver=nbd,node-name=x,server.type=inet,server.host=h',
      "Parameter 'server.port' is missing",
      'server.port',
    ],
    [
      'driver=nbd,node-name=x,server.type=vsock,server.path=p',
      "does not accept value 'vsock'",
      'server.type',
    ],
    ['driver=nbd,node-name=x', "Parameter 'server' is missing", 'server'],
    ['driver=file,node-name=x,filename=/f,queue-depth=0', "'queue-depth' must be at least 1", 'queue-depth'],
  ])('rejects %j naming the option', (text, message, option) => {
    let error: unknown;
    try {
      parseBlockdevOptions(text);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'invalid-option', errnoName: 'EINVAL', context: { option } });
    expect((error as Error).message).toContain(message);
  });

  it('takes the JSON string form of -blockdev, as QEMU does', () => {
    expect(parseBlockdevOptions(' {"driver":"null-co","node-name":"n","size":4096}')).toEqual({
      driver: 'null-co',
      'node-name': 'n',
      size: 4096,
    });
    expect(() => parseBlockdevOptions('{"driver":')).toThrow(/not valid JSON/);
    expect(() => parseBlockdevOptions('{"driver":"null-co","node-name":"n","size":"4k"}')).toThrow(
      "Parameter 'size' expects a size",
    );
  });

  it('rejects JSON values of the wrong type', () => {
    expect(() =>
      parseBlockdevOptions({ driver: 'file', 'node-name': 'x', filename: '/f', 'read-only': 'on' }),
    ).toThrow("Parameter 'read-only' expects 'on' or 'off'");
  });
});
