import { describe, expect, it } from 'vitest';
import { parseCommandLine, parseMonitorFlag } from './args';
import { isAppError } from './errors';

function usageError(argv: string[]): { message: string; flag: string | undefined } {
  try {
    parseCommandLine(argv);
  } catch (e) {
    if (!isAppError(e)) throw e;
    expect(e.code).toBe('usage');
    return { message: e.message, flag: e.context.flag };
  }
  throw new Error(`no error for ${argv.join(' ')}`);
}

function parseRun(argv: string[], cwd: string) {
  const cmd = parseCommandLine(argv, cwd);
  if (cmd.kind !== 'run') throw new Error(`expected run, got ${cmd.kind}`);
  return cmd;
}

function run(argv: string[]) {
  const cmd = parseCommandLine(argv);
  if (cmd.kind !== 'run') throw new Error(`expected run, got ${cmd.kind}`);
  return cmd;
}

describe('parseCommandLine', () => {
  it('collects --load modules in order, resolved from the working directory, wherever help stands', () => {
    const { config } = parseRun(['--load', './a.js', '-device', 'edu', '--load=@acme/b'], '/w');
    expect(config.loads).toEqual([
      { module: './a.js', baseDir: '/w', source: '--load #1' },
      { module: '@acme/b', baseDir: '/w', source: '--load #2' },
    ]);
    expect(parseCommandLine(['--load', 'x.js', '--help', '--load', 'y.js'], '/w')).toEqual({
      kind: 'help',
      loads: [
        { module: 'x.js', baseDir: '/w', source: '--load #1' },
        { module: 'y.js', baseDir: '/w', source: '--load #2' },
      ],
    });
    expect(parseCommandLine(['-device', 'doorbell,help', '--load', 'd.js'], '/w')).toMatchObject({
      kind: 'device-help',
      driver: 'doorbell',
      loads: [{ module: 'd.js' }],
    });
    expect(usageError(['--load', '']).message).toMatch(/-load needs a module path or package name/);
  });

  it('parses -object and -device into endpoint and device specs', () => {
    const { config } = run([
      '-object',
      'vfio-user-server,id=s0,socket=/run/vfu/edu.sock',
      '-device',
      'edu,id=edu0,bus=s0,dma_mask=0xffffffff',
    ]);
    expect(config.endpoints).toEqual([{ id: 's0', socket: '/run/vfu/edu.sock', source: '-object #1' }]);
    expect(config.devices).toEqual([
      { driver: 'edu', id: 'edu0', bus: 's0', props: { dma_mask: '0xffffffff' }, source: '-device #1' },
    ]);
  });

  it('accepts the double-dash and =value forms alike', () => {
    const a = run([
      '--object=vfio-user-server,id=s0,socket=a.sock',
      '--device',
      'edu,bus=s0',
      '--log-level=debug',
    ]);
    const b = run([
      '-object',
      'vfio-user-server,id=s0,socket=a.sock',
      '-device=edu,bus=s0',
      '-log-level',
      'debug',
    ]);
    expect(a.config.endpoints.map((e) => e.id)).toEqual(['s0']);
    expect(b.config).toEqual(a.config);
    expect(a.config.logLevel).toBe('debug');
  });

  it('parses the one-device shorthand socket= on -device', () => {
    const { config } = run(['-device', 'pci-testdev,socket=/tmp/t.sock']);
    expect(config.devices[0]).toMatchObject({ driver: 'pci-testdev', socket: '/tmp/t.sock', props: {} });
  });

  it('accepts JSON -object and -device, with QEMU socket objects', () => {
    const { config } = run([
      '-object',
      '{"qom-type":"x-vfio-user-server","id":"s1","socket":{"type":"unix","path":"/x.sock"}}',
      '-device',
      '{"driver":"pci-idio-16","id":"g0","bus":"s1","inputs":255}',
    ]);
    expect(config.endpoints[0]).toMatchObject({ id: 's1', socket: '/x.sock' });
    expect(config.devices[0]).toMatchObject({
      driver: 'pci-idio-16',
      id: 'g0',
      bus: 's1',
      props: { inputs: 255 },
    });
  });

  it('accepts flattened socket.type/socket.path and doubled commas', () => {
    const { config } = run([
      '-object',
      'vfio-user-server,id=s0,socket.type=unix,socket.path=/a,,b.sock',
      '-device',
      'pci-serial,bus=s0,chardev=file:/tmp/x,,append',
    ]);
    expect(config.endpoints[0]?.socket).toBe('/a,b.sock');
    expect(config.devices[0]?.props).toEqual({ chardev: 'file:/tmp/x,append' });
  });

  it('collects monitors, trace, runtime dir and config file', () => {
    const cmd = run([
      '-monitor',
      '/tmp/m.sock',
      '-qmp',
      'unix:/tmp/q.sock,server,wait=off',
      '--trace',
      '--require-sealed-dma-fds',
      '--runtime-dir',
      '/tmp/rt',
      '--config',
      'c.json',
    ]);
    expect(cmd.config.monitors.map((m) => m.path)).toEqual(['/tmp/m.sock', '/tmp/q.sock']);
    expect(cmd.config.trace).toBe(true);
    expect(cmd.config.requireSealedDmaFds).toBe(true);
    expect(run([]).config.requireSealedDmaFds).toBeUndefined();
    expect(cmd.config.runtimeDir).toBe('/tmp/rt');
    expect(cmd.configFile).toBe('c.json');
  });

  it('recognises help forms', () => {
    expect(parseCommandLine(['--help'])).toEqual({ kind: 'help', loads: [] });
    expect(parseCommandLine(['-h'])).toEqual({ kind: 'help', loads: [] });
    expect(parseCommandLine(['-V'])).toEqual({ kind: 'version' });
    expect(parseCommandLine(['-device', 'help'])).toEqual({
      kind: 'device-help',
      driver: undefined,
      loads: [],
    });
    expect(parseCommandLine(['-device', 'edu,help'])).toEqual({
      kind: 'device-help',
      driver: 'edu',
      loads: [],
    });
    expect(parseCommandLine(['-object', 'help'])).toEqual({ kind: 'object-help' });
  });

  it('returns the embedded-defaults case as a run with nothing to serve', () => {
    const cmd = run([]);
    expect(cmd.config.endpoints).toEqual([]);
    expect(cmd.config.devices).toEqual([]);
  });

  it.each([
    [['-devcie', 'edu'], /unknown flag '-devcie' \(did you mean -device\?\)/, '-devcie'],
    [['--frobnicate'], /unknown flag '--frobnicate' \(see --help\)/, '--frobnicate'],
    [['edu'], /unexpected argument 'edu'/, undefined],
    [['-device'], /-device needs a value/, '-device'],
    [['--trace=yes'], /-trace takes no value/, '-trace'],
    [['--require-sealed-dma-fds=1'], /-require-sealed-dma-fds takes no value/, '-require-sealed-dma-fds'],
    [['--log-level', 'loud'], /expected one of error, warn, info, debug, got "loud"/, '-log-level'],
    [['--config', 'a', '--config', 'b'], /-config given twice/, '-config'],
    [['--config='], /needs a file name/, '-config'],
    [['--runtime-dir='], /needs a directory/, '-runtime-dir'],
    [['-object', 'memory-backend-ram,id=m'], /unknown object type "memory-backend-ram"/, '-object'],
    [['-object', 'vfio-user-server,socket=/a'], /needs an id/, '-object'],
    [['-object', 'vfio-user-server,id=s0'], /needs socket=PATH/, '-object'],
    [['-object', 'vfio-user-server,id=s0,socket='], /socket path is empty/, '-object'],
    [['-object', 'vfio-user-server,id=s0,socket=/a,colour=red'], /unknown option 'colour'/, '-object'],
    [['-object', 'vfio-user-server,id=s0,socket=/a,device=e0'], /'device' is not an option/, '-object'],
    [
      ['-object', 'vfio-user-server,id=s0,socket.type=tcp,socket.path=/a'],
      /socket type must be "unix"/,
      '-object',
    ],
    [['-object', 'vfio-user-server,id=s0,id=s1,socket=/a'], /option 'id' given twice/, '-object'],
    [['-object', '{"qom-type":'], /not valid JSON/, '-object'],
    [['-object', '{"qom-type":"vfio-user-server","id":"s0","socket":5}'], /socket must be a path/, '-object'],
    [['-device', 'id=e0'], /must start with the driver name/, '-device'],
    [['-device', 'edu,id=e0,,,'], /empty option/, '-device'],
    [['-device', 'edu,=3'], /option without a name/, '-device'],
    [['-device', 'edu,driver=edu'], /driver given twice/, '-device'],
    [['-device', 'edu,bus=s0,socket=/a'], /either bus= .* or socket=/, '-device'],
    [['-device', '{"driver":3}'], /missing driver name/, '-device'],
    [['-device', '{"driver":"edu","bus":7}'], /bus must be a non-empty string/, '-device'],
    [['-device', '{"driver":"edu","id":""}'], /id must be a non-empty string/, '-device'],
    [['-monitor', 'tcp:localhost:4444'], /only UNIX sockets/, '-monitor'],
    [['-qmp', 'unix:/a,server=off'], /server=off is not supported/, '-qmp'],
    [['-qmp', 'unix:/a,telnet'], /unknown option 'telnet'/, '-qmp'],
    [['-monitor', 'unix:'], /missing socket path/, '-monitor'],
  ])('rejects %j', (argv, message, flag) => {
    const e = usageError(argv as string[]);
    expect(e.message).toMatch(message);
    if (flag !== undefined) expect(e.flag).toBe(flag);
  });
});

describe('parseMonitorFlag', () => {
  it('accepts a bare path and QEMU chardev options', () => {
    expect(parseMonitorFlag('/a.sock', '-monitor', 'm').path).toBe('/a.sock');
    expect(parseMonitorFlag('unix:/b.sock,server=on,nowait', '-qmp', 'q').path).toBe('/b.sock');
  });
});
