/**
 * The interop scenarios for vfu-server: QEMU's vfio-user client attaches to it and a Linux guest
 * drives the devices with its own drivers. Skipped until apps/server is built.
 *
 * What these assume of vfu-server beyond its documented command line (`vfuServerArgs`):
 * - `-chardev socket,id=ID,path=PATH,server=on,wait=off` backs `pci-serial,chardev=ID`;
 * - `-qmp unix:PATH,server=on,wait=off` is a QMP-style monitor (greeting, `qmp_capabilities`) with
 *   `object-add` (qom-type `vfio-user-server`), `device_add`, `qom-get` and `qom-set`;
 * - the ACCES PCI-IDIO-16 model is driver `pci-idio-16` with u16 properties `outputs` (lines driven by
 *   the guest) and `inputs` (lines the guest reads).
 * If any of these change, only `server()` below or the monitor calls need editing.
 */
import { createConnection } from 'node:net';
import { makeTempDir, type TempDir } from '@vfu/test-utils';
import { describe, expect, onTestFinished, test } from 'vitest';
import {
  assertGuestPassed,
  barWrite,
  check,
  connectQmp,
  enableDevice,
  expectBar,
  expectBarRead,
  expectDriver,
  expectGpioLine,
  expectLspci,
  findDevice,
  findGpiochip,
  findTty,
  type GuestRunResult,
  guestScript,
  guestValue,
  hotplugRootPortArgs,
  isVfuServerBuilt,
  loadModule,
  type ManagedProcess,
  type RunningGuest,
  reportBar,
  runGuest,
  setGpioLine,
  startVfuServer,
  type VfuServerSpec,
  vfioUserDeviceAddArgs,
  vfuServerCliPath,
  waitBarRead,
  waitForHost,
} from '../src/index';

const built = isVfuServerBuilt();
const title = built
  ? 'vfu-server scenarios'
  : `vfu-server scenarios (skipped: ${vfuServerCliPath()} not built)`;
if (!built) console.log(`interop: ${title}`);

/** A temp dir and a started vfu-server, both cleaned up when the test ends. */
async function server(spec: (dir: TempDir) => VfuServerSpec): Promise<{ dir: TempDir; vfu: ManagedProcess }> {
  const dir = makeTempDir('vfu-io-');
  onTestFinished(() => dir.remove());
  const vfu = await startVfuServer(spec(dir));
  onTestFinished(() => vfu.stop().then(() => undefined));
  return { dir, vfu };
}

/** Releases every guest once all of them have reached mark `name`. */
function barrier(
  name: string,
  parties: number,
): (event: { kind: string; name?: string }, guest: RunningGuest) => void {
  const waiting: RunningGuest[] = [];
  return (event, guest) => {
    if (event.kind !== 'mark' || event.name !== name) return;
    waiting.push(guest);
    if (waiting.length === parties) for (const g of waiting) g.release();
  };
}

function passed(result: GuestRunResult, vfu: ManagedProcess): GuestRunResult {
  assertGuestPassed(result, [vfu]);
  return result;
}

describe.skipIf(!built)(title, () => {
  test('1. enumeration: ids, class, BAR kinds and sizes, MSI/MSI-X, interrupt pin', async () => {
    const { dir, vfu } = await server((d) => ({
      endpoints: ['s0', 's1', 's2', 's3'].map((id) => ({ id, socketPath: d.join(`${id}.sock`) })),
      devices: [
        { driver: 'edu', id: 'edu0', bus: 's0' },
        { driver: 'pci-testdev', id: 'testdev0', bus: 's1' },
        { driver: 'pci-serial', id: 'serial0', bus: 's2' },
        { driver: 'pci-idio-16', id: 'gpio0', bus: 's3' },
      ],
    }));
    passed(
      await runGuest({
        name: 'enumeration',
        devices: ['s0', 's1', 's2', 's3'].map((id) => ({ socketPath: dir.join(`${id}.sock`) })),
        script: guestScript(
          findDevice('edu', '1234:11e8'),
          expectLspci('edu-id', 'edu', 'Unclassified device [00ff]: Device [1234:11e8] (rev 10)'),
          expectBar('edu-bar0', 'edu', 0, 'mem32', 1 << 20),
          expectBar('edu-bar1', 'edu', 1, 'none', 0),
          expectLspci('edu-msi', 'edu', 'Capabilities: [40] MSI: Enable- Count=1/1 Maskable- 64bit+'),
          check('edu-no-msix', '! lspci -vv -s "$edu" | grep -q MSI-X'),
          expectLspci('edu-pin', 'edu', 'Interrupt: pin A'),
          findDevice('testdev', '1b36:0005'),
          expectLspci(
            'testdev-id',
            'testdev',
            'Unclassified device [00ff]: Red Hat, Inc. QEMU PCI Test Device [1b36:0005]',
          ),
          expectBar('testdev-bar0', 'testdev', 0, 'mem32', 4096),
          expectBar('testdev-bar1', 'testdev', 1, 'io', 256),
          expectLspci('testdev-no-caps', 'testdev', 'Status: Cap-'),
          check('testdev-no-pin', 'test "$(setpci -s "$testdev" INTERRUPT_PIN)" = 00'),
          findDevice('serial', '1b36:0002'),
          expectLspci(
            'serial-id',
            'serial',
            'Serial controller [0700]: Red Hat, Inc. QEMU PCI 16550A Adapter [1b36:0002] (rev 01)',
          ),
          expectLspci('serial-progif', 'serial', '(prog-if 02 [16550])'),
          expectBar('serial-bar0', 'serial', 0, 'io', 8),
          expectLspci('serial-pin', 'serial', 'Interrupt: pin A'),
          findDevice('gpio', '494f:0dc8'),
          expectLspci('gpio-id', 'gpio', '[494f:0dc8]'),
          expectBar('gpio-bar2', 'gpio', 2, 'io', 256),
        ),
      }),
      vfu,
    );
  });

  test('2. edu: identification, liveness and factorial through BAR0, with status bits', async () => {
    const { dir, vfu } = await server((d) => ({
      endpoints: [{ id: 's0', socketPath: d.join('s0.sock') }],
      devices: [{ driver: 'edu', id: 'edu0', bus: 's0' }],
    }));
    passed(
      await runGuest({
        name: 'edu',
        devices: [{ socketPath: dir.join('s0.sock') }],
        script: guestScript(
          findDevice('edu', '1234:11e8'),
          enableDevice('edu'),
          expectBarRead('ident', 'edu', 0, 0x00, 4, 0x010000ed),
          barWrite('edu', 0, 0x04, 4, 0x12345678),
          expectBarRead('liveness', 'edu', 0, 0x04, 4, 0xedcba987),
          barWrite('edu', 0, 0x08, 4, 5),
          waitBarRead('factorial-done', 'edu', 0, 0x20, 4, 0x01, 0),
          expectBarRead('factorial-5', 'edu', 0, 0x08, 4, 120),
          barWrite('edu', 0, 0x08, 4, 12),
          waitBarRead('factorial-12-done', 'edu', 0, 0x20, 4, 0x01, 0),
          expectBarRead('factorial-12', 'edu', 0, 0x08, 4, 479001600),
          barWrite('edu', 0, 0x20, 4, 0x81),
          // Bit 0 (computing) is read-only, bit 7 (irq on completion) is read/write.
          expectBarRead('status-bits', 'edu', 0, 0x20, 4, 0x80),
          expectBarRead('unknown-offset', 'edu', 0, 0x10, 4, 0xffffffff),
        ),
      }),
      vfu,
    );
  });

  test('3. pci-serial: 8250_pci binds, a tty appears, bytes go both ways', async () => {
    const { dir, vfu } = await server((d) => ({
      endpoints: [{ id: 's0', socketPath: d.join('s0.sock') }],
      chardevs: [{ id: 'c0', socketPath: d.join('c0.sock') }],
      devices: [{ driver: 'pci-serial', id: 'serial0', bus: 's0', properties: { chardev: 'c0' } }],
    }));
    const backend = createConnection(dir.join('c0.sock'));
    onTestFinished(() => void backend.destroy());
    let fromGuest = '';
    backend.setEncoding('utf8');
    backend.on('data', (text: string) => {
      fromGuest += text;
    });
    const result = passed(
      await runGuest({
        name: 'serial',
        devices: [{ socketPath: dir.join('s0.sock') }],
        script: guestScript(
          findDevice('serial', '1b36:0002'),
          expectDriver('driver-serial', 'serial', 'serial'),
          findTty('tty-found', 'serial', 'tty'),
          'stty -F "/dev/$tty" raw -echo 115200',
          '( timeout 20 head -n 1 <"/dev/$tty" >/tmp/rx ) &',
          'reader=$!',
          'sleep 1',
          waitForHost('serial-ready'),
          'echo hello-from-guest >"/dev/$tty"',
          'wait "$reader"',
          'vfu_expect_eq received-from-host "$(cat /tmp/rx)" hello-from-host',
        ),
        onEvent: (event, guest) => {
          if (event.kind === 'mark' && event.name === 'serial-ready') {
            backend.write('hello-from-host\n');
            guest.release();
          }
        },
      }),
      vfu,
    );
    expect(result.values.get('tty.tty')?.[0]).toMatch(/^ttyS\d+$/);
    expect(fromGuest).toContain('hello-from-guest');
  });

  test('4. GPIO: gpio-pci-idio-16 binds, gpiochip registered, output seen by server, input read by guest', async () => {
    const { dir, vfu } = await server((d) => ({
      endpoints: [{ id: 's0', socketPath: d.join('s0.sock') }],
      devices: [{ driver: 'pci-idio-16', id: 'gpio0', bus: 's0' }],
      monitorSocket: d.join('monitor.sock'),
    }));
    const monitor = await connectQmp(dir.join('monitor.sock'));
    onTestFinished(() => monitor.close());
    await monitor.execute('qom-set', {
      path: '/machine/peripheral/gpio0',
      property: 'inputs',
      value: 0x0005,
    });
    passed(
      await runGuest({
        name: 'gpio',
        devices: [{ socketPath: dir.join('s0.sock') }],
        script: guestScript(
          findDevice('gpio', '494f:0dc8'),
          loadModule('gpio-pci-idio-16'),
          expectDriver('driver-bound', 'gpio', 'pci-idio-16'),
          findGpiochip('gpiochip-registered', 'gpio', 'chip'),
          check('gpiochip-32-lines', 'gpioinfo -c "$chip" | head -n 1 | grep -q "32 lines"'),
          expectGpioLine('input-0', 'chip', 16, 1),
          expectGpioLine('input-1', 'chip', 17, 0),
          expectGpioLine('input-2', 'chip', 18, 1),
          setGpioLine('output-3', 'chip', 3, 1),
        ),
      }),
      vfu,
    );
    const outputs = Number(
      await monitor.execute('qom-get', { path: '/machine/peripheral/gpio0', property: 'outputs' }),
    );
    expect(outputs & 0x8).toBe(0x8);
  });

  test('5. pci-testdev: test headers and counters on the MMIO and I/O BARs', async () => {
    const { dir, vfu } = await server((d) => ({
      endpoints: [{ id: 's0', socketPath: d.join('s0.sock') }],
      devices: [{ driver: 'pci-testdev', id: 'testdev0', bus: 's0' }],
    }));
    passed(
      await runGuest({
        name: 'testdev',
        devices: [{ socketPath: dir.join('s0.sock') }],
        script: guestScript(
          findDevice('t', '1b36:0005'),
          enableDevice('t'),
          expectBarRead('mmio-unselected', 't', 0, 0x0, 4, 0),
          barWrite('t', 0, 0x0, 1, 0),
          expectBarRead('mmio-test0-width', 't', 0, 0x1, 1, 1),
          expectBarRead('mmio-test0-offset', 't', 0, 0x4, 4, 0x800),
          expectBarRead('mmio-test0-data', 't', 0, 0x8, 1, 0xfa),
          barWrite('t', 0, 0x800, 1, 0xfa),
          barWrite('t', 0, 0x800, 1, 0x00),
          barWrite('t', 0, 0x800, 1, 0xfa),
          barWrite('t', 0, 0x800, 1, 0xfa),
          expectBarRead('mmio-test0-count', 't', 0, 0xc, 4, 3),
          barWrite('t', 1, 0x0, 1, 0),
          expectBarRead('io-test0-index', 't', 1, 0x0, 1, 3),
          expectBarRead('io-test0-offset', 't', 1, 0x4, 4, 0x83),
          barWrite('t', 1, 0x83, 1, 0xfa),
          barWrite('t', 1, 0x83, 1, 0xfa),
          expectBarRead('io-test0-count', 't', 1, 0xc, 4, 2),
          barWrite('t', 0, 0x0, 1, 0),
          expectBarRead('mmio-reselect-resets-count', 't', 0, 0xc, 4, 0),
        ),
      }),
      vfu,
    );
  });

  test('6. isolation: two guests on two endpoints of one server see the same BARs and not each other', async () => {
    const { dir, vfu } = await server((d) => ({
      endpoints: [
        { id: 's0', socketPath: d.join('s0.sock') },
        { id: 's1', socketPath: d.join('s1.sock') },
      ],
      devices: [
        { driver: 'edu', id: 'edu0', bus: 's0' },
        { driver: 'edu', id: 'edu1', bus: 's1' },
      ],
    }));
    const written = barrier('written', 2);
    const script = (value: number) =>
      guestScript(
        findDevice('edu', '1234:11e8'),
        enableDevice('edu'),
        reportBar('bar0', 'edu', 0),
        barWrite('edu', 0, 0x04, 4, value),
        barWrite('edu', 0, 0x08, 4, value & 0x7),
        waitForHost('written'),
        expectBarRead('liveness-own', 'edu', 0, 0x04, 4, ~value >>> 0),
        waitBarRead('factorial-done', 'edu', 0, 0x20, 4, 0x01, 0),
        expectBarRead('factorial-own', 'edu', 0, 0x08, 4, [1, 1, 2, 6, 24, 120, 720, 5040][value & 0x7]!),
      );
    const [a, b] = await Promise.all([
      runGuest({
        name: 'guest-a',
        devices: [{ socketPath: dir.join('s0.sock') }],
        script: script(0x11111113),
        onEvent: written,
      }),
      runGuest({
        name: 'guest-b',
        devices: [{ socketPath: dir.join('s1.sock') }],
        script: script(0x22222225),
        onEvent: written,
      }),
    ]);
    passed(a!, vfu);
    passed(b!, vfu);
    expect(guestValue(a!, 'bar0')).toBe(guestValue(b!, 'bar0'));
    expect(guestValue(a!, 'bdf.edu')).toBe(guestValue(b!, 'bdf.edu'));
  });

  test('7. hot-add: the monitor adds an endpoint and device, QEMU plugs it, the guest drives it', async () => {
    const { dir, vfu } = await server((d) => ({
      endpoints: [{ id: 's0', socketPath: d.join('s0.sock') }],
      devices: [{ driver: 'pci-testdev', id: 'testdev0', bus: 's0' }],
      monitorSocket: d.join('monitor.sock'),
    }));
    const monitor = await connectQmp(dir.join('monitor.sock'));
    onTestFinished(() => monitor.close());
    const hotSocket = dir.join('s1.sock');
    passed(
      await runGuest({
        name: 'hotplug',
        qmp: true,
        extraQemuArgs: hotplugRootPortArgs('rp0'),
        devices: [{ socketPath: dir.join('s0.sock') }],
        hotplugSockets: [hotSocket],
        script: guestScript(
          findDevice('t', '1b36:0005'),
          check('edu-absent', '! grep -qx 0x11e8 /sys/bus/pci/devices/*/device'),
          waitForHost('plug'),
          findDevice('edu', '1234:11e8', { waitSeconds: 30 }),
          enableDevice('edu'),
          expectBarRead('ident', 'edu', 0, 0x00, 4, 0x010000ed),
        ),
        onEvent: async (event, guest) => {
          if (event.kind !== 'mark' || event.name !== 'plug') return;
          await monitor.execute('object-add', {
            'qom-type': 'vfio-user-server',
            id: 's1',
            socket: hotSocket,
          });
          await monitor.execute('device_add', { driver: 'edu', id: 'edu1', bus: 's1' });
          await vfu.waitForPath(hotSocket, 10_000);
          const qmp = await guest.qmp();
          await qmp.execute(
            'device_add',
            vfioUserDeviceAddArgs({ socketPath: guest.socketPathInQemu(hotSocket), id: 'hp0', bus: 'rp0' }),
          );
          guest.release();
        },
      }),
      vfu,
    );
  });
});
