import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConfigFile } from './config-file';
import { isAppError } from './errors';

const parse = (value: unknown) => parseConfigFile(JSON.stringify(value), 'vfu.json', '/etc/vfu');

function configError(text: string): { message: string; path: string | undefined } {
  try {
    parseConfigFile(text, 'vfu.json', '/etc/vfu');
  } catch (e) {
    if (!isAppError(e)) throw e;
    expect(e.code).toBe('config');
    return { message: e.message, path: e.context.path };
  }
  throw new Error(`no error for ${text}`);
}

describe('parseConfigFile', () => {
  it('takes a load list resolved from the file directory, and refuses a non-string entry', () => {
    expect(parse({ load: ['./doorbell.js', '@acme/drivers'] }).loads).toEqual([
      { module: './doorbell.js', baseDir: '/etc/vfu', source: '$.load[0]' },
      { module: '@acme/drivers', baseDir: '/etc/vfu', source: '$.load[1]' },
    ]);
    expect(configError(JSON.stringify({ load: [3] }))).toMatchObject({ path: '$.load[0]' });
  });

  it('parses the README example', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const block = /## Config file[\s\S]*?```json\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    const fromReadme = parseConfigFile(block as string, 'README', '/etc/vfu');
    expect(fromReadme.endpoints.map((e) => e.socket)).toEqual(['/etc/vfu/edu.sock', '/run/vfu/gpio.sock']);
    expect(fromReadme.devices.map((d) => [d.driver, d.bus ?? d.socket])).toEqual([
      ['edu', 's0'],
      ['pci-idio-16', 's1'],
      ['pci-testdev', '/etc/vfu/testdev.sock'],
    ]);
    expect(fromReadme.monitors.map((m) => m.path)).toEqual(['/etc/vfu/qmp.sock']);
  });

  it('parses a full config', () => {
    const config = parse({
      objects: [{ 'qom-type': 'vfio-user-server', id: 's0', socket: 'edu.sock' }],
      devices: [{ driver: 'edu', id: 'edu0', bus: 's0', dma_mask: '0xffffffff' }],
      monitors: ['qmp.sock', { path: '/run/q2.sock' }],
      trace: true,
      requireSealedDmaFds: true,
      logLevel: 'debug',
      runtimeDir: 'run',
    });
    expect(config.endpoints).toEqual([{ id: 's0', socket: '/etc/vfu/edu.sock', source: '$.objects[0]' }]);
    expect(config.devices).toEqual([
      { driver: 'edu', id: 'edu0', bus: 's0', props: { dma_mask: '0xffffffff' }, source: '$.devices[0]' },
    ]);
    expect(config.monitors.map((m) => m.path)).toEqual(['/etc/vfu/qmp.sock', '/run/q2.sock']);
    expect(config).toMatchObject({
      trace: true,
      requireSealedDmaFds: true,
      logLevel: 'debug',
      runtimeDir: '/etc/vfu/run',
    });
  });

  it('resolves the shorthand socket against the file directory and keeps JSON property values', () => {
    const config = parse({ devices: [{ driver: 'pci-idio-16', socket: 'gpio.sock', inputs: 255 }] });
    expect(config.devices[0]).toMatchObject({ socket: '/etc/vfu/gpio.sock', props: { inputs: 255 } });
  });

  it('leaves unset scalars undefined', () => {
    expect(parse({})).toMatchObject({ trace: undefined, logLevel: undefined, runtimeDir: undefined });
  });

  it.each([
    ['{', '$', /not valid JSON/],
    ['[]', '$', /expected an object, got an array/],
    ['{"object": []}', '$.object', /unknown key/],
    ['{"objects": {}}', '$.objects', /expected an array, got an object/],
    ['{"objects": [3]}', '$.objects[0]', /expected an object, got number 3/],
    ['{"objects": [{"qom-type": "vfio-user-server", "socket": "/a"}]}', '$.objects[0].id', /needs an id/],
    ['{"objects": [{"id": "s0", "socket": "/a"}]}', '$.objects[0]["qom-type"]', /missing object type/],
    [
      '{"objects": [{"qom-type": "vfio-user-server", "id": "s0", "socket": {"type": "unix"}}]}',
      '$.objects[0].socket.path',
      /socket.path must be a non-empty string/,
    ],
    [
      '{"objects": [{"qom-type": "vfio-user-server", "id": "s0", "socket": "/a", "colour": 1}]}',
      '$.objects[0].colour',
      /unknown option 'colour'/,
    ],
    ['{"devices": [{"id": "e0"}]}', '$.devices[0].driver', /missing driver name/],
    ['{"devices": [{"driver": "edu", "id": 5}]}', '$.devices[0].id', /id must be a non-empty string/],
    ['{"devices": [{"driver": "edu", "bus": "s0", "socket": "/a"}]}', '$.devices[0].socket', /not both/],
    ['{"devices": ["edu"]}', '$.devices[0]', /expected an object, got the string "edu"/],
    ['{"monitors": [7]}', '$.monitors[0]', /expected a socket path/],
    ['{"monitors": [""]}', '$.monitors[0]', /empty socket path/],
    ['{"monitors": [{"path": "/a", "x": 1}]}', '$.monitors[0].x', /unknown key/],
    ['{"monitors": [{"path": 1}]}', '$.monitors[0].path', /expected a non-empty string/],
    ['{"trace": "yes"}', '$.trace', /expected true or false/],
    ['{"requireSealedDmaFds": 1}', '$.requireSealedDmaFds', /expected true or false/],
    ['{"logLevel": "verbose"}', '$.logLevel', /expected one of error, warn, info, debug/],
    ['{"runtimeDir": 3}', '$.runtimeDir', /expected a non-empty string/],
  ])('rejects %s at %s', (text, path, message) => {
    const e = configError(text);
    expect(e.path).toBe(path);
    expect(e.message).toMatch(message);
    expect(e.message.startsWith(`vfu.json: ${path}: `)).toBe(true);
  });
});
