import { describe, expect, test } from 'vitest';
import { isInteropError } from './errors';
import { vfuServerArgs, vfuServerCliPath } from './vfu-server';

describe('vfuServerArgs', () => {
  test('endpoints, devices with properties, monitor and trace in QEMU option syntax', () => {
    expect(
      vfuServerArgs({
        endpoints: [{ id: 's0', socketPath: '/tmp/x/s0.sock' }],
        devices: [
          {
            driver: 'pci-serial',
            id: 'ser0',
            bus: 's0',
            properties: { chardev: 'socket:/tmp/x/c0.sock', 'x-flag': false },
          },
        ],
        monitorSocket: '/tmp/x/qmp.sock',
        trace: true,
        readySockets: ['/tmp/x/c0.sock'],
      }),
    ).toEqual([
      '-object',
      'vfio-user-server,id=s0,socket=/tmp/x/s0.sock',
      '-device',
      'pci-serial,id=ser0,bus=s0,chardev=socket:/tmp/x/c0.sock,x-flag=off',
      '-qmp',
      'unix:/tmp/x/qmp.sock,server=on,wait=off',
      '--trace',
    ]);
  });

  test('no endpoint, or a value with a comma, is rejected', () => {
    const codeOf = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return isInteropError(e) ? e.code : 'other';
      }
      return undefined;
    };
    expect(codeOf(() => vfuServerArgs({ endpoints: [], devices: [] }))).toBe('invalid-argument');
    expect(
      codeOf(() => vfuServerArgs({ endpoints: [{ id: 's0', socketPath: '/tmp/a,b.sock' }], devices: [] })),
    ).toBe('invalid-argument');
  });

  test('the CLI is looked up in apps/server/dist', () => {
    expect(vfuServerCliPath('/repo')).toBe('/repo/apps/server/dist/cli.js');
  });
});
