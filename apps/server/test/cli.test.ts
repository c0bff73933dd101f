import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { exists, probeEndpoint, runCli as run, startServer, tempDir } from './support';

describe('vfu-server command line', () => {
  it('--help lists every flag, every driver and its properties', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    for (const flag of [
      '-object',
      '-device',
      '-config',
      '-monitor',
      '-qmp',
      '-trace',
      '-log-level',
      '-runtime-dir',
    ]) {
      expect(r.stdout).toMatch(new RegExp(`^  ${flag}[ \n]`, 'm'));
    }
    for (const driver of ['edu', 'pci-testdev', 'pci-serial', 'pci-idio-16'])
      expect(r.stdout).toContain(`name "${driver}"`);
    expect(r.stdout).toContain('inputs=<uint16>');
    expect(r.stdout).toContain('dma_mask=<uint64>');
    expect(r.stderr).toBe('');
  });

  it("-device DRIVER,help prints that driver's properties", async () => {
    const r = await run(['-device', 'pci-serial,help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^pci-serial options:\n/);
    expect(r.stdout).toContain('chardev=<str>');
  });

  it.each([
    [['-devcie', 'edu'], /unknown flag '-devcie' \(did you mean -device\?\)/],
    [['-device', 'nosuch,socket=/tmp/x.sock'], /-device #1: 'nosuch' is not a valid device model name/],
    [
      ['-device', 'edu,socket=/tmp/x.sock,dma_mask=banana'],
      /property 'edu.dma_mask': 'banana' is not an integer/,
    ],
    [['-device', 'edu,bus=nowhere'], /Bus 'nowhere' not found/],
    [['--log-level', 'chatty'], /expected one of error, warn, info, debug/],
    [['-device', 'nosuch,help'], /'nosuch' is not a valid device model name/],
  ])('%j exits 2 with a message', async (args, message) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/^vfu-server: /);
    expect(r.stdout).toBe('');
  });

  it('a config file error names the file and the JSON path and exits 2', async () => {
    const dir = tempDir();
    writeFileSync(
      dir.join('vfu.json'),
      JSON.stringify({ devices: [{ driver: 'edu', socket: 'e.sock', dma_mask: [] }] }),
    );
    const r = await run(['--config', 'vfu.json'], dir.path);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("$.devices[0]: property 'edu.dma_mask'");
    const bad = await run(['--config', 'missing.json'], dir.path);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/cannot read config file .*missing\.json/);
  });

  it('serves a config file, with paths relative to it', async () => {
    const dir = tempDir();
    writeFileSync(
      dir.join('vfu.json'),
      JSON.stringify({
        objects: [{ 'qom-type': 'vfio-user-server', id: 'tst', socket: 't.sock' }],
        devices: [{ driver: 'pci-testdev', id: 't0', bus: 'tst' }],
      }),
    );
    const server = await startServer(['--config', dir.join('vfu.json')]);
    expect(server.endpoints()).toEqual([
      { endpoint: 'tst', device: 't0', driver: 'pci-testdev', socketPath: dir.join('t.sock') },
    ]);
  });

  it('a socket path in use by a live listener is a clear error, exit 1, and the socket is left alone', async () => {
    const dir = tempDir();
    const path = dir.join('busy.sock');
    const other = createServer(() => {});
    await new Promise<void>((r) => other.listen(path, r));
    onTestFinished(() => new Promise<void>((r) => other.close(() => r())));
    const r = await run(['-device', `edu,socket=${path}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`socket ${path} is in use by another process`);
    expect(exists(path)).toBe(true);
  });

  it('a non-socket file at the socket path is refused', async () => {
    const dir = tempDir();
    writeFileSync(dir.join('file.sock'), 'precious');
    const r = await run(['-device', `edu,socket=${dir.join('file.sock')}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('exists and is not a socket');
  });

  it('a second server on the same sockets fails while the first keeps serving', async () => {
    const dir = tempDir();
    const sock = dir.join('edu.sock');
    const first = await startServer(['-device', `edu,id=e0,socket=${sock}`]);
    const r = await run(['-device', `edu,socket=${sock}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/in use/);
    expect((await probeEndpoint(sock)).info.numRegions).toBeGreaterThanOrEqual(9);
    expect(first.child.exitCode).toBeNull();
  });

  it('the one-device shorthand serves the device: VERSION and DEVICE_GET_INFO', async () => {
    const dir = tempDir();
    const server = await startServer(['-device', `edu,id=edu0,socket=${dir.join('edu.sock')}`, '--trace']);
    expect(server.endpoints()).toEqual([
      { endpoint: 's0', device: 'edu0', driver: 'edu', socketPath: dir.join('edu.sock') },
    ]);
    const { version, info } = await probeEndpoint(dir.join('edu.sock'));
    expect(version.major).toBe(0);
    expect(info).toMatchObject({ numRegions: 9, numIrqs: 5 });
    // --trace prints the messages in the protocol package's readable form.
    await server.waitForOutput(/trace: s0 rx .*DEVICE_GET_INFO/i, 'stderr');
  });

  it('serves the embedded default set and removes every socket on SIGTERM, exit 0', async () => {
    const dir = tempDir();
    const server = await startServer(['--runtime-dir', dir.path]);
    const endpoints = server.endpoints();
    expect(endpoints.map((e) => [e.endpoint, e.device, e.driver])).toEqual([
      ['s0', 'edu0', 'edu'],
      ['s1', 'testdev0', 'pci-testdev'],
      ['s2', 'serial0', 'pci-serial'],
      ['s3', 'gpio0', 'pci-idio-16'],
    ]);
    expect(server.monitors()).toEqual([dir.join('qmp.sock')]);
    for (const e of endpoints) expect(exists(e.socketPath)).toBe(true);
    for (const e of endpoints)
      expect((await probeEndpoint(e.socketPath)).info.numRegions).toBeGreaterThanOrEqual(9);
    const exit = await server.stop('SIGTERM');
    expect(exit).toEqual({ code: 0, signal: null });
    for (const e of endpoints) expect(exists(e.socketPath)).toBe(false);
    expect(exists(dir.join('qmp.sock'))).toBe(false);
  });

  it('SIGINT stops it cleanly too', async () => {
    const dir = tempDir();
    const server = await startServer(['-device', `pci-testdev,socket=${dir.join('t.sock')}`]);
    expect(await server.stop('SIGINT')).toEqual({ code: 0, signal: null });
    expect(exists(dir.join('t.sock'))).toBe(false);
  });
});
