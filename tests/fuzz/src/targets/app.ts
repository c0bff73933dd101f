/**
 * vfu-server's command line and JSON config file: argv (NUL-separated) through parseCommandLine,
 * and text through parseConfigFile, each then planned against the zoo's registry as the program
 * does. Invariants: a result, or an AppError of the documented code with a message; a plan that
 * names only endpoints and buses it defines.
 *
 * vfu-server is a program, not a library: its parsers are reached by path, as its own tests do.
 */
import { registerZooDevices } from '@vfu/devices';
import { DeviceTypeRegistry } from '@vfu/pci';
import { parseCommandLine } from '../../../../apps/server/src/args';
import { parseConfigFile } from '../../../../apps/server/src/config-file';
import { isAppError } from '../../../../apps/server/src/errors';
import { planServer } from '../../../../apps/server/src/plan';
import { words } from '../engine/mutate';
import { Finding, type FuzzTarget } from '../engine/target';
import { type JsonVocabulary, mutateJsonText } from '../json-mutate';

const CWD = '/nonexistent/vfu-fuzz';

function expectAppError(e: unknown, codes: readonly string[], what: string): void {
  if (!isAppError(e))
    throw new Finding(`${what} threw something other than an AppError: ${String(e)}`, { cause: e });
  if (!codes.includes(e.code))
    throw new Finding(`${what} threw AppError '${e.code}', expected ${codes.join(' or ')}`, { cause: e });
  if (typeof e.message !== 'string' || e.message.length === 0)
    throw new Finding(`${what}: AppError without a message`);
}

function zooRegistry(): DeviceTypeRegistry {
  const registry = new DeviceTypeRegistry();
  registerZooDevices(registry);
  return registry;
}

/** Plans `config` as main() does, checking the plan's references. */
function plan(config: Parameters<typeof planServer>[0], registry: DeviceTypeRegistry): void {
  let p: ReturnType<typeof planServer>;
  try {
    p = planServer(config, { registry, cwd: CWD });
  } catch (e) {
    expectAppError(e, ['invalid-configuration', 'usage', 'config'], 'planServer');
    return;
  }
  const endpoints = new Set(p.endpoints.map((e) => e.id));
  if (endpoints.size !== p.endpoints.length) throw new Finding('a plan with two endpoints of one id');
  const sockets = new Set(p.endpoints.map((e) => e.socketPath));
  if (sockets.size !== p.endpoints.length) throw new Finding('a plan with two endpoints on one socket');
  for (const d of p.devices) {
    const bus = d.options.bus;
    if (bus === undefined || !endpoints.has(bus)) {
      throw new Finding(`a planned device on bus '${bus}', which the plan does not create`);
    }
  }
}

const DECODER = new TextDecoder();

const CLI_WORDS = words(
  '-object',
  '--object',
  '-device',
  '--device',
  '--config',
  '-monitor',
  '-qmp',
  '--trace',
  '--log-level',
  '--runtime-dir',
  '--help',
  '-V',
  'vfio-user-server',
  'id=',
  'socket=',
  'bus=',
  'edu',
  'pci-testdev',
  'pci-serial',
  'pci-idio-16',
  ',help',
  'help',
  'unix:',
  ',server',
  ',wait=off',
  'chardev=null',
  'dma_mask=0xffffffff',
  '{"qom-type":"vfio-user-server","id":"s1","socket":"b.sock"}',
  '{"driver":"edu","bus":"s1"}',
  '-blockdev',
  'driver=null-co,node-name=d0,size=1M',
  '{"driver":"null-co","node-name":"d0","size":4096}',
  'nvme,drive=d0,serial=s',
  'drive=',
  'serial=',
  '--load',
  '--require-sealed-dma-fds',
  '\0',
);

export function cliTarget(): FuzzTarget {
  const registry = zooRegistry();
  const argv = (...args: string[]) => new TextEncoder().encode(args.join('\0'));
  return {
    name: 'cli',
    description: "vfu-server's argv parser, then the plan; results or AppError usage/configuration",
    scope: ['/apps/server/src/', '/packages/pci/src/qdev/', '/packages/devices/src/'],
    maxLen: 512,
    stateless: true,
    dictionary: CLI_WORDS,
    seeds: () => [
      argv(
        '-blockdev',
        'driver=null-co,node-name=d0,size=1M',
        '-device',
        'nvme,drive=d0,serial=s,socket=n.sock',
      ),
      argv('--help'),
      argv('-device', 'help'),
      argv('-device', 'edu,help'),
      argv('-object', 'vfio-user-server,id=s0,socket=a.sock', '-device', 'edu,bus=s0,id=e0'),
      argv('-device', 'pci-idio-16,socket=g.sock,inputs=255', '--trace', '--log-level=debug'),
      argv(
        '-device',
        '{"driver":"pci-serial","socket":"s.sock","chardev":"memory"}',
        '-qmp',
        'unix:q.sock,server,wait=off',
      ),
      argv('--config', 'vfu.json', '-monitor', 'm.sock', '--runtime-dir', 'run'),
      argv(
        '-object',
        '{"qom-type":"vfio-user-server","id":"s1","socket":"b.sock"}',
        '-device',
        'pci-testdev,bus=s1',
      ),
    ],
    run(input) {
      const args = DECODER.decode(input).split('\0');
      let cmd: ReturnType<typeof parseCommandLine>;
      try {
        cmd = parseCommandLine(args);
      } catch (e) {
        expectAppError(e, ['usage'], 'parseCommandLine');
        return;
      }
      if (cmd.kind === 'device-help') {
        try {
          registry.help(cmd.driver);
        } catch {
          // main() reports an unknown driver as a usage error; either outcome is fine here.
        }
      }
      if (cmd.kind === 'run') plan(cmd.config, registry);
    },
  };
}

const CONFIG_WORDS = words(
  '"objects"',
  '"devices"',
  '"monitors"',
  '"trace"',
  '"logLevel"',
  '"runtimeDir"',
  '"$schema"',
  '"qom-type"',
  '"vfio-user-server"',
  '"id"',
  '"socket"',
  '"bus"',
  '"driver"',
  '"edu"',
  '"pci-testdev"',
  '"pci-serial"',
  '"pci-idio-16"',
  '"chardev"',
  '"dma_mask"',
  '"inputs"',
  '"path"',
  'true',
  'null',
  '[]',
  '{}',
  '"0xffffffff"',
  '1e400',
  '-0',
  '"__proto__"',
  '"constructor"',
  '"blockdevs"',
  '"node-name"',
  '"null-co"',
  '"nvme"',
  '"drive"',
  '"serial"',
  '"requireSealedDmaFds"',
);

const CONFIG_VOCABULARY: JsonVocabulary = {
  keys: [
    'blockdevs',
    'node-name',
    'size',
    'drive',
    'serial',
    'requireSealedDmaFds',
    'objects',
    'devices',
    'monitors',
    'trace',
    'logLevel',
    'runtimeDir',
    '$schema',
    'qom-type',
    'id',
    'socket',
    'bus',
    'driver',
    'chardev',
    'dma_mask',
    'inputs',
    'addr',
    'baudbase',
    'path',
    '__proto__',
  ],
  strings: [
    'null-co',
    'nvme',
    'd0',
    '1M',
    'vfio-user-server',
    'edu',
    'pci-testdev',
    'pci-serial',
    'pci-idio-16',
    's0',
    's1',
    'a.sock',
    '/abs/b.sock',
    '',
    'debug',
    'warn',
    'null',
    'memory',
    '0xffffffff',
    '0x10',
    '00.0',
    '1f.7',
    'unix:q.sock',
    'x'.repeat(120),
  ],
};

export function configTarget(): FuzzTarget {
  const registry = zooRegistry();
  const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  return {
    name: 'config',
    description: "vfu-server's JSON config file, then the plan; results or AppError config/configuration",
    scope: ['/apps/server/src/', '/packages/pci/src/qdev/', '/packages/devices/src/'],
    maxLen: 2048,
    stateless: true,
    dictionary: CONFIG_WORDS,
    seeds: () => [
      json({
        blockdevs: [{ driver: 'null-co', 'node-name': 'd0', size: 1 << 20 }],
        devices: [{ driver: 'nvme', socket: 'n.sock', drive: 'd0', serial: 's' }],
        requireSealedDmaFds: true,
      }),
      json({
        objects: [{ 'qom-type': 'vfio-user-server', id: 's0', socket: '/etc/vfu/edu.sock' }],
        devices: [{ driver: 'edu', id: 'edu0', bus: 's0', dma_mask: '0xffffffff' }],
      }),
      json({
        devices: [{ driver: 'pci-idio-16', socket: 'gpio.sock', inputs: 255 }],
        trace: true,
        logLevel: 'debug',
      }),
      json({
        devices: [{ driver: 'pci-serial', socket: 's.sock', chardev: 'memory' }],
        monitors: ['qmp.sock'],
      }),
      json({
        $schema: 'x',
        runtimeDir: 'run',
        devices: [{ driver: 'pci-testdev', socket: 't.sock', id: 't' }],
      }),
      json({
        objects: [{ 'qom-type': 'vfio-user-server', id: 'a', socket: 'a.sock' }],
        devices: [
          { driver: 'edu', bus: 'a' },
          { driver: 'edu', bus: 'a' },
        ],
      }),
    ],
    run(input) {
      let config: ReturnType<typeof parseConfigFile>;
      try {
        config = parseConfigFile(DECODER.decode(input), 'fuzz.json', CWD);
      } catch (e) {
        expectAppError(e, ['config'], 'parseConfigFile');
        return;
      }
      plan(config, registry);
    },
    mutate: (input, ctx) => (ctx.rng.oneIn(4) ? undefined : mutateJsonText(input, ctx, CONFIG_VOCABULARY)),
  };
}
