import { describe, expect, it } from 'vitest';
import {
  commandAvailable,
  parseEndpointLines,
  parseMonitorLines,
  runProcess,
  startServerProcess,
} from './server-process';

describe('server output lines', () => {
  it('parses endpoint and monitor lines, ignoring everything else', () => {
    const out = [
      'vfu-server: endpoint s0 device edu0 (edu) listening on /run/vfu/edu.sock',
      'vfu-server: info: something',
      'vfu-server: endpoint hot device none listening on /tmp/a b.sock',
      'vfu-server: monitor listening on /run/vfu/qmp.sock',
      'vfu-server: ready (2 endpoints, 1 monitor, pid 1)',
    ].join('\n');
    expect(parseEndpointLines(out)).toEqual([
      { endpoint: 's0', device: 'edu0', driver: 'edu', socketPath: '/run/vfu/edu.sock' },
      { endpoint: 'hot', device: undefined, driver: undefined, socketPath: '/tmp/a b.sock' },
    ]);
    expect(parseMonitorLines(out)).toEqual(['/run/vfu/qmp.sock']);
  });
});

describe('commandAvailable', () => {
  it('is true for a command that runs and exits 0, false otherwise', () => {
    expect(commandAvailable(process.execPath)).toBe(true);
    expect(commandAvailable(process.execPath, ['-e', 'process.exit(0)'])).toBe(true);
    expect(commandAvailable(process.execPath, ['-e', 'process.exit(1)'])).toBe(false);
    expect(commandAvailable('vfu-no-such-command-here')).toBe(false);
  });
});

describe('processes', () => {
  it('runProcess collects output and exit status', async () => {
    const r = await runProcess(process.execPath, [
      '-e',
      'console.log("out"); console.error("err"); process.exit(3)',
    ]);
    expect(r).toEqual({ code: 3, signal: null, stdout: 'out\n', stderr: 'err\n' });
  });

  it('startServerProcess waits for readiness and stops the process', async () => {
    const script = 'console.log("vfu-server: ready (0 endpoints)"); setInterval(() => {}, 1000);';
    const p = await startServerProcess({ script: '-e', args: [script] });
    expect(p.stdout()).toContain('ready');
    expect(await p.stop('SIGTERM')).toEqual({ code: null, signal: 'SIGTERM' });
  });

  it('startServerProcess rejects with the output when the process exits first', async () => {
    await expect(
      startServerProcess({ script: '-e', args: ['console.error("boom"); process.exit(2)'] }),
    ).rejects.toThrow(/exited \(code 2, signal null\)[\s\S]*boom/);
  });
});
