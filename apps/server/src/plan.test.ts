import { registerZooDevices } from '@vfu/devices';
import { DeviceTypeRegistry } from '@vfu/pci';
import { describe, expect, it } from 'vitest';
import { parseCommandLine } from './args';
import type { ServerConfig } from './config';
import { defaultConfig } from './defaults';
import { isAppError } from './errors';
import { type LiveState, MAX_SOCKET_PATH_BYTES, nextEndpointId, planServer } from './plan';

const registry = new DeviceTypeRegistry();
registerZooDevices(registry);

function configOf(argv: string[]): ServerConfig {
  const cmd = parseCommandLine(argv);
  if (cmd.kind !== 'run') throw new Error('not a run');
  return cmd.config;
}

const plan = (argv: string[], live?: LiveState) =>
  planServer(configOf(argv), { registry, cwd: '/work', ...(live === undefined ? {} : { live }) });

function planError(argv: string[], live?: LiveState): string {
  try {
    plan(argv, live);
  } catch (e) {
    if (!isAppError(e)) throw e;
    expect(e.code).toBe('invalid-configuration');
    return e.message;
  }
  throw new Error(`no error for ${argv.join(' ')}`);
}

describe('planServer', () => {
  it('resolves relative socket paths and puts devices on their endpoints', () => {
    const p = plan([
      '-object',
      'vfio-user-server,id=s0,socket=a.sock',
      '-device',
      'edu,id=e0,bus=s0',
      '-monitor',
      'q.sock',
    ]);
    expect(p.endpoints).toEqual([
      { id: 's0', socketPath: '/work/a.sock', source: '-object #1', ownerDevice: undefined },
    ]);
    expect(p.devices).toEqual([
      { options: { driver: 'edu', id: 'e0', bus: 's0' }, source: '-device #1', ownsEndpoint: false },
    ]);
    expect(p.monitors).toEqual([{ socketPath: '/work/q.sock', source: '-monitor #1' }]);
  });

  it('puts a device without bus= on the only endpoint', () => {
    const p = plan(['-object', 'vfio-user-server,id=only,socket=/a', '-device', 'pci-testdev']);
    expect(p.devices[0]?.options.bus).toBe('only');
  });

  it('gives each socket= shorthand its own endpoint with the first free sN id', () => {
    const p = plan([
      '-object',
      'vfio-user-server,id=s0,socket=/a',
      '-device',
      'edu,id=e1,socket=/b',
      '-device',
      'pci-testdev,socket=/c',
    ]);
    expect(p.endpoints.map((e) => [e.id, e.socketPath, e.ownerDevice])).toEqual([
      ['s0', '/a', undefined],
      ['s1', '/b', 'e1'],
      ['s2', '/c', undefined],
    ]);
    expect(p.devices.map((d) => [d.options.bus, d.ownsEndpoint])).toEqual([
      ['s1', true],
      ['s2', true],
    ]);
  });

  it('the default set is a valid plan with one endpoint per zoo device', () => {
    const p = planServer(defaultConfig('/run/user/1000/vfu'), { registry, cwd: '/' });
    expect(p.endpoints.map((e) => e.socketPath)).toEqual([
      '/run/user/1000/vfu/edu.sock',
      '/run/user/1000/vfu/pci-testdev.sock',
      '/run/user/1000/vfu/pci-serial.sock',
      '/run/user/1000/vfu/pci-idio-16.sock',
    ]);
    expect(p.devices.map((d) => d.options.id)).toEqual(['edu0', 'testdev0', 'serial0', 'gpio0']);
    expect(p.monitors.map((m) => m.socketPath)).toEqual(['/run/user/1000/vfu/qmp.sock']);
  });

  it('checks against the live state for monitor commands', () => {
    const live = { endpointIds: ['s0', 's1'], deviceIds: ['edu0'], socketPaths: ['/run/a.sock'] };
    expect(planError(['-object', 'vfio-user-server,id=s1,socket=/x'], live)).toMatch(
      /id 's1' already exists/,
    );
    expect(planError(['-device', 'edu,id=edu0,bus=s0'], live)).toMatch(/Duplicate device ID 'edu0'/);
    expect(planError(['-device', 'edu,socket=/run/a.sock'], live)).toMatch(/already used by a running/);
    expect(plan(['-device', 'edu,socket=/run/b.sock'], live).endpoints[0]?.id).toBe('s2');
    expect(plan(['-device', 'edu,bus=s1'], live).devices[0]?.options.bus).toBe('s1');
  });

  it.each([
    [
      ['-device', 'nope,socket=/a'],
      /-device #1: 'nope' is not a valid device model name \(known: edu, nvme, pci-idio-16, pci-serial, pci-testdev\)/,
    ],
    [['-device', 'edu,socket=/a,dma_mask=zz'], /-device #1: property 'edu.dma_mask': 'zz' is not an integer/],
    [['-device', 'edu,socket=/a,colour=red'], /'edu' has no property 'colour'/],
    [['-device', 'pci-idio-16,socket=/a,inputs=0x10000'], /out of range/],
    [['-device', 'edu,socket=/a,addr=zz'], /property 'edu.addr'/],
    [['-device', 'edu,id=1e,socket=/a'], /device id '1e' is not well-formed/],
    [['-object', 'vfio-user-server,id=s/0,socket=/a'], /bus id 's\/0' is not well-formed/],
    [
      ['-object', 'vfio-user-server,id=s0,socket=/a', '-object', 'vfio-user-server,id=s0,socket=/b'],
      /-object #2: an endpoint with id 's0' already exists/,
    ],
    [
      ['-object', 'vfio-user-server,id=s0,socket=/a', '-object', 'vfio-user-server,id=s1,socket=/a'],
      /-object #2: socket path \/a is already used by -object #1/,
    ],
    [
      ['-device', 'edu,socket=/a', '-monitor', '/a'],
      /-monitor #1: socket path \/a is already used by -device #1/,
    ],
    [
      ['-device', 'edu,id=e0,socket=/a', '-device', 'edu,id=e0,socket=/b'],
      /-device #2: Duplicate device ID 'e0'/,
    ],
    [['-device', 'edu'], /no endpoint to put 'edu' on/],
    [
      [
        '-object',
        'vfio-user-server,id=a,socket=/a',
        '-object',
        'vfio-user-server,id=b,socket=/b',
        '-device',
        'edu',
      ],
      /name the endpoint with bus= \(one of a, b\)/,
    ],
    [
      ['-object', 'vfio-user-server,id=s0,socket=/a', '-device', 'edu,bus=s9'],
      /Bus 's9' not found \(endpoints: s0\)/,
    ],
    [
      ['-device', `edu,socket=/${'x'.repeat(MAX_SOCKET_PATH_BYTES)}`],
      /longer than the 107 a UNIX socket allows/,
    ],
  ])('rejects %j', (argv, message) => {
    expect(planError(argv as string[])).toMatch(message);
  });
});

describe('nextEndpointId', () => {
  it('takes the first gap', () => {
    expect(nextEndpointId(new Set())).toBe('s0');
    expect(nextEndpointId(new Set(['s0', 's2']))).toBe('s1');
  });
});
