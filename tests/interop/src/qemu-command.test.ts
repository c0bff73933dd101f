import { describe, expect, test } from 'vitest';
import { isInteropError } from './errors';
import { buildQemuArgs, planSocketMounts, vfioUserDeviceJson } from './qemu-command';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isInteropError(e) ? e.code : 'not-an-interop-error';
  }
  return undefined;
}

describe('vfioUserDeviceJson', () => {
  test('the socket is a JSON object, with id, bus, addr and extra properties', () => {
    const json = vfioUserDeviceJson({
      socketPath: '/run/vfu/s0/edu.sock',
      id: 'edu0',
      bus: 'rp0',
      addr: '04.0',
      properties: { 'x-msg-timeout': 10000, rombar: false },
    });
    expect(JSON.parse(json)).toEqual({
      driver: 'vfio-user-pci',
      socket: { type: 'unix', path: '/run/vfu/s0/edu.sock' },
      id: 'edu0',
      bus: 'rp0',
      addr: '04.0',
      'x-msg-timeout': 10000,
      rombar: false,
    });
  });

  test('a relative socket path or a property clashing with an option is rejected', () => {
    expect(code(() => vfioUserDeviceJson({ socketPath: 'edu.sock' }))).toBe('invalid-argument');
    expect(code(() => vfioUserDeviceJson({ socketPath: '/a.sock', properties: { socket: 'x' } }))).toBe(
      'invalid-argument',
    );
  });
});

describe('buildQemuArgs', () => {
  const base = {
    kernel: '/k',
    initrd: '/i',
    memoryMiB: 256,
    cpus: 1,
    accel: 'tcg' as const,
    kernelArgs: ['quiet'],
    devices: [{ socketPath: '/run/vfu/s0/a.sock' }, { socketPath: '/run/vfu/s1/b.sock' }],
  };

  test('shares guest RAM through a memfd and attaches each device in order', () => {
    const args = buildQemuArgs({ ...base, qmpSocket: '/run/vfu/run/qmp.sock', extraArgs: ['-device', 'x'] });
    expect(args.slice(0, 4)).toEqual([
      '-machine',
      'q35,accel=tcg,memory-backend=mem',
      '-object',
      'memory-backend-memfd,id=mem,size=256M,share=on',
    ]);
    expect(args[args.indexOf('-append') + 1]).toBe('console=ttyS0 panic=-1 loglevel=4 iomem=relaxed quiet');
    expect(args[args.indexOf('-qmp') + 1]).toBe('unix:/run/vfu/run/qmp.sock,server=on,wait=off');
    const devices = args.flatMap((a, i) => (args[i - 1] === '-device' ? [a] : []));
    expect(devices[0]).toBe('x');
    expect(devices.slice(1).map((d) => JSON.parse(d).socket.path)).toEqual([
      '/run/vfu/s0/a.sock',
      '/run/vfu/s1/b.sock',
    ]);
    expect(args).toContain('-no-reboot');
  });

  test('bad memory or cpu counts are rejected', () => {
    expect(code(() => buildQemuArgs({ ...base, memoryMiB: 16 }))).toBe('invalid-argument');
    expect(code(() => buildQemuArgs({ ...base, cpus: 0 }))).toBe('invalid-argument');
  });
});

describe('planSocketMounts', () => {
  test('binds each socket directory once and maps every socket under it', () => {
    expect(planSocketMounts(['/tmp/a/s0.sock', '/tmp/b/x.sock', '/tmp/a/s1.sock'], '/run/vfu')).toEqual({
      hostDirs: ['/tmp/a', '/tmp/b'],
      guestPaths: ['/run/vfu/s0/s0.sock', '/run/vfu/s1/x.sock', '/run/vfu/s0/s1.sock'],
    });
  });

  test('a relative socket path is rejected', () => {
    expect(code(() => planSocketMounts(['x.sock'], '/run/vfu'))).toBe('invalid-argument');
  });
});
