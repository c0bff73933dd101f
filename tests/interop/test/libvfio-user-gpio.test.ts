/**
 * Manual check against the reference C server: libvfio-user's `samples/gpio-pci-idio-16` (494f:0dc8,
 * BAR2 = 256 bytes of I/O; outputs at +0/+4 count writes per pin, inputs at +1/+5 read 1 for a pin
 * whose count is a multiple of 3). libvfio-user is not part of this repository: build it yourself
 * and point VFU_INTEROP_LIBVFIO_USER_GPIO at the sample binary, else this file is skipped.
 */
import { makeTempDir } from '@vfu/test-utils';
import { describe, expect, onTestFinished, test } from 'vitest';
import {
  assertGuestPassed,
  barWrite,
  check,
  enableDevice,
  expectBar,
  expectBarRead,
  expectDriver,
  expectGpioLine,
  expectLspci,
  findDevice,
  findGpiochip,
  guestScript,
  hotplugRootPortArgs,
  loadModule,
  reportCommand,
  runGuest,
  setGpioLine,
  startVfioUserServer,
  vfioUserDeviceAddArgs,
  waitForHost,
} from '../src/index';

const sample = process.env.VFU_INTEROP_LIBVFIO_USER_GPIO;

describe.skipIf(!sample)('libvfio-user gpio-pci-idio-16 sample (VFU_INTEROP_LIBVFIO_USER_GPIO)', () => {
  test('the guest enumerates it, the idio-16 driver binds, GPIO lines move both ways', async () => {
    const dir = makeTempDir('vfu-lvu-');
    onTestFinished(() => dir.remove());
    const socketPath = dir.join('gpio.sock');
    const server = await startVfioUserServer({
      name: 'gpio-pci-idio-16',
      command: sample!,
      args: ['-v', socketPath],
      readySockets: [socketPath],
    });
    onTestFinished(() => server.stop().then(() => undefined));

    const result = await runGuest({
      name: 'idio16',
      devices: [{ socketPath }],
      script: guestScript(
        findDevice('gpio', '494f:0dc8'),
        expectLspci('lspci-id', 'gpio', '[494f:0dc8]'),
        expectLspci('lspci-bar2', 'gpio', 'Region 2: I/O ports at'),
        expectBar('bar2-io-256', 'gpio', 2, 'io', 256),
        expectLspci('lspci-module', 'gpio', 'Kernel modules: gpio_pci_idio_16', '-k'),
        // Raw register access before any driver: a write to outputs 0-7 flips input 0.
        enableDevice('gpio'),
        expectBarRead('inputs-initial', 'gpio', 2, 1, 1, 0xff),
        barWrite('gpio', 2, 0, 1, 0x01),
        expectBarRead('inputs-after-write', 'gpio', 2, 1, 1, 0xfe),
        // The kernel driver.
        loadModule('gpio-pci-idio-16'),
        expectDriver('driver-bound', 'gpio', 'pci-idio-16'),
        findGpiochip('gpiochip-registered', 'gpio', 'chip'),
        reportCommand('gpioinfo', 'gpioinfo -c $chip | head -n 3'),
        expectGpioLine('input-line-16', 'chip', 16, 0),
        expectGpioLine('input-line-17', 'chip', 17, 1),
        setGpioLine('output-line-1', 'chip', 1, 1),
        expectGpioLine('input-line-17-after-output', 'chip', 17, 0),
      ),
    });
    assertGuestPassed(result, [server]);
    expect(result.values.get('gpioinfo')?.[0]).toMatch(/^gpiochip\d+ - 32 lines:/);
    // The server saw the guest's raw write and the driver's write of output line 1.
    expect(server.log()).toContain('region2: wrote 0x1 to (0:1)');
    expect(server.log()).toMatch(/region2: wrote 0x2 to \(0:1\)/);
  });

  test('two guests attach to two sample servers at once', async () => {
    const dir = makeTempDir('vfu-lvu-');
    onTestFinished(() => dir.remove());
    const servers = await Promise.all(
      ['a', 'b'].map((n) =>
        startVfioUserServer({
          name: `gpio-${n}`,
          command: sample!,
          args: [dir.join(`${n}.sock`)],
          readySockets: [dir.join(`${n}.sock`)],
        }),
      ),
    );
    onTestFinished(() => Promise.all(servers.map((s) => s.stop())).then(() => undefined));
    const script = guestScript(
      findDevice('gpio', '494f:0dc8'),
      enableDevice('gpio'),
      expectBarRead('inputs-initial', 'gpio', 2, 1, 1, 0xff),
      reportCommand('bar', 'head -n 3 /sys/bus/pci/devices/$gpio/resource | tail -n 1'),
    );
    const results = await Promise.all(
      ['a', 'b'].map((n) =>
        runGuest({ name: `guest-${n}`, devices: [{ socketPath: dir.join(`${n}.sock`) }], script }),
      ),
    );
    for (const r of results) assertGuestPassed(r, servers);
    expect(results[0]!.values.get('bar')).toEqual(results[1]!.values.get('bar'));
  });

  test('hot-add: QMP device_add of a vfio-user-pci device into a root port reaches the guest', async () => {
    const dir = makeTempDir('vfu-lvu-');
    onTestFinished(() => dir.remove());
    const socketPath = dir.join('hp.sock');
    const server = await startVfioUserServer({
      name: 'gpio-hotplug',
      command: sample!,
      args: [socketPath],
      readySockets: [socketPath],
    });
    onTestFinished(() => server.stop().then(() => undefined));
    const result = await runGuest({
      name: 'hotplug',
      qmp: true,
      extraQemuArgs: hotplugRootPortArgs('rp0'),
      hotplugSockets: [socketPath],
      script: guestScript(
        check('absent-before', '! grep -qx 0x494f /sys/bus/pci/devices/*/vendor'),
        waitForHost('ready-for-hotplug'),
        findDevice('gpio', '494f:0dc8', { waitSeconds: 30 }),
        expectLspci('lspci-id', 'gpio', '[494f:0dc8]'),
        // The sample's class code is 0 ("not defined"), and Linux assigns no resources to such a
        // function when it is hot-added (firmware did it at boot); its BAR is still sized.
        expectBar('bar2-sized', 'gpio', 2, 'io', 256),
      ),
      onEvent: async (event, guest) => {
        if (event.kind === 'mark' && event.name === 'ready-for-hotplug') {
          const qmp = await guest.qmp();
          await qmp.execute(
            'device_add',
            vfioUserDeviceAddArgs({ socketPath: guest.socketPathInQemu(socketPath), id: 'hp0', bus: 'rp0' }),
          );
          guest.release();
        }
      },
    });
    assertGuestPassed(result, [server]);
  });
});
