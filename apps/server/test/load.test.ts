/** `--load MODULE`: driver modules from outside the zoo, on the command line, in --config and over the monitor. */
import { writeFileSync } from 'node:fs';
import { connectQmp } from '@vfu/test-utils';
import { describe, expect, it, onTestFinished } from 'vitest';
import { probeEndpoint, runCli, startServer, tempDir } from './support';

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url).pathname;

describe('vfu-server --load', () => {
  it('adds the module’s types to --help, -device help and -device NAME,help', async () => {
    const help = await runCli(['--load', fixture('chime.js'), '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('name "chime", bus PCI, desc "a test device loaded with --load"');
    const list = await runCli(['-device', 'help', '--load', fixture('bells.js')]);
    expect(list.stdout).toMatch(/name "bell-a".*\n.*name "bell-b"/);
    const props = await runCli([`--load=${fixture('chime.js')}`, '-device', 'chime,help']);
    expect(props.stdout).toContain('chime options:');
    expect(props.stdout).toContain('addr=<int32>');
  });

  it('serves a loaded device given with -device, relative to the working directory', async () => {
    const dir = tempDir();
    const socket = dir.join('chime.sock');
    await startServer(
      ['--load', './fixtures/chime.js', '-device', `chime,id=c0,socket=${socket}`],
      fixture('..'),
    );
    const { info } = await probeEndpoint(socket);
    expect(info.numRegions).toBeGreaterThan(0);
  });

  it('loads the config file’s `load` list relative to the file, and device_add creates loaded types', async () => {
    const dir = tempDir();
    writeFileSync(
      dir.join('vfu.json'),
      JSON.stringify({
        load: [fixture('chime.js'), fixture('bells.js')],
        devices: [{ driver: 'chime', id: 'c0', socket: 'chime.sock' }],
        monitors: ['qmp.sock'],
      }),
    );
    await startServer(['--config', dir.join('vfu.json')]);
    await probeEndpoint(dir.join('chime.sock'));
    const qmp = await connectQmp(dir.join('qmp.sock'));
    onTestFinished(() => qmp.close());
    await qmp.execute('qmp_capabilities');
    expect(
      await qmp.execute('device_add', { driver: 'bell-a', id: 'b0', socket: dir.join('bell.sock') }),
    ).toEqual({ return: {} });
    await probeEndpoint(dir.join('bell.sock'));
  });

  it.each([
    [
      'clash.js',
      /--load #1: cannot load driver module '.*clash\.js': device type 'edu' is already registered/,
    ],
    [
      'empty.js',
      /cannot load driver module '.*empty\.js': it exports nothing usable \(expected a default export/,
    ],
    ['throws.js', /cannot load driver module '.*throws\.js': the chime factory is closed/],
    ['missing.js', /cannot load driver module '.*missing\.js': Cannot find module/],
    ['doorbell.ts', /cannot load driver module '.*doorbell\.ts': TypeScript modules are not loaded directly/],
  ])('a bad module (%s) is refused with exit status 2, naming module and reason', async (name, message) => {
    const result = await runCli(['--load', fixture(name), '-device', 'edu,id=e0,socket=/nonexistent/x.sock']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it('an unknown package name is refused, and a clashing module registers none of its types', async () => {
    const unknown = await runCli(['--load', '@acme/no-such-driver', '--help']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/cannot load driver module '@acme\/no-such-driver': not found from/);
    const dir = tempDir();
    writeFileSync(dir.join('vfu.json'), JSON.stringify({ load: [fixture('clash.js')] }));
    const clash = await runCli(['--config', dir.join('vfu.json')]);
    expect(clash.code).toBe(2);
    expect(clash.stderr).toMatch(/\$\.load\[0\]: cannot load driver module/);
    const twice = await runCli(['--load', fixture('chime.js'), '--load', fixture('chime.js'), '--help']);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(/--load #2: .*'chime' is already registered/);
  });
});
