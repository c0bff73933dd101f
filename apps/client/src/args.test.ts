import { describe, expect, it } from 'vitest';
import pkg from '../package.json' with { type: 'json' };
import { parseCommandLine, parseSize } from './args';
import { main } from './main';

function capture() {
  let out = '';
  let err = '';
  return {
    io: { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } },
    out: () => out,
    err: () => err,
  };
}

describe('command line', () => {
  it('parses info with its formats and options', () => {
    expect(parseCommandLine(['info', '/run/edu.sock'])).toEqual({
      kind: 'info',
      format: 'text',
      assign: false,
      socket: '/run/edu.sock',
      noFds: false,
      ramSize: 16 << 20,
      timeoutMs: 5000,
    });
    expect(parseCommandLine(['info', 's', '-x', '--ram', '64K', '--no-fds'])).toMatchObject({
      format: 'hex',
      ramSize: 65536,
      noFds: true,
    });
    expect(parseCommandLine(['info', 's', '--json', '--assign', '--timeout', '0'])).toMatchObject({
      format: 'json',
      assign: true,
      timeoutMs: 0,
    });
  });

  it('parses demos', () => {
    expect(parseCommandLine(['demo', 'serial', 's', '--script', 'abc'])).toMatchObject({
      kind: 'demo',
      demo: 'serial',
      script: 'abc',
      interactive: false,
    });
    expect(parseCommandLine(['demo', 'edu', 's'])).toMatchObject({ demo: 'edu', script: undefined });
  });

  it.each([
    [[], /missing command/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['info'], /info: missing SOCKET/],
    [['info', 'a', 'b'], /unexpected argument 'b'/],
    [['info', 's', '--hex', '--json'], /exclude each other/],
    [['info', 's', '--script', 'x'], /only applies to demo serial/],
    [['demo'], /missing device/],
    [['demo', 'nvme', 's'], /unknown device 'nvme'/],
    [['demo', 'edu'], /demo: missing SOCKET/],
    [['demo', 'edu', 's', '--hex'], /--hex only applies to info/],
    [['demo', 'edu', 's', '--interactive'], /only applies to demo serial/],
    [['demo', 'serial', 's', '--interactive', '--script', 'x'], /exclude each other/],
    [['info', 's', '--ram', '1000'], /multiple of 4096/],
    [['info', 's', '--ram', 'lots'], /bad size/],
    [['info', 's', '--timeout', '-1'], /bad --timeout|argument/],
    [['info', 's', '--bogus'], /^vfu-client: unknown option '--bogus'\nTry/],
  ])('rejects %j with exit status 2 and a clear message', async (argv, message) => {
    const c = capture();
    expect(await main(argv as string[], c.io)).toBe(2);
    expect(c.err()).toMatch(message);
    expect(c.err()).toContain("Try 'vfu-client --help'");
    expect(c.out()).toBe('');
  });

  it('prints help and version', async () => {
    const c = capture();
    expect(await main(['--help'], c.io)).toBe(0);
    expect(c.out()).toContain('Usage:');
    expect(c.out()).toContain('demo edu|serial|gpio|testdev SOCKET');
    const v = capture();
    expect(await main(['-V'], v.io)).toBe(0);
    expect(v.out()).toBe(`vfu-client ${pkg.version}\n`);
  });

  it('reports a socket nobody listens on with exit status 1', async () => {
    const c = capture();
    expect(await main(['info', '/nonexistent/vfu.sock'], c.io)).toBe(1);
    expect(c.err()).toMatch(/error \(connect-failed\): cannot connect to \/nonexistent\/vfu.sock: /);
    expect(c.err().split('/nonexistent/vfu.sock').length).toBe(2); // the path is named once
  });

  it('parses sizes', () => {
    expect(parseSize('4096')).toBe(4096);
    expect(parseSize('1G')).toBe(1 << 30);
    expect(parseSize('8k')).toBe(8192);
  });
});
