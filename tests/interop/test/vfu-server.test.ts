/**
 * The interop scenarios for vfu-server: QEMU's vfio-user client attaches to it and a Linux guest
 * drives the devices with its own drivers. Skipped until apps/server is built.
 *
 * vfu-server runs with `--trace`, so a failure report ends with the last vfio-user messages it
 * exchanged. Host-side state is read through its QMP monitor (`-qmp unix:PATH,server=on,wait=off`):
 * `gpio-set-inputs` (which also returns the outputs the guest drives), `query-pci`,
 * `query-vfio-user-servers`, `object-add`, `device_add`.
 */
import { createConnection, type Socket } from 'node:net';
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
  expectOutput,
  findDevice,
  findGpiochip,
  findTty,
  type GuestRunResult,
  guestScript,
  guestValue,
  isVfuServerBuilt,
  loadModule,
  type ManagedProcess,
  type RunningGuest,
  reportBar,
  runGuest,
  setGpioLine,
  startVfuServer,
  type VfuServerSpec,
  vfuServerCliPath,
  waitBarRead,
  waitForHost,
} from '../src/index';

const built = isVfuServerBuilt();
const title = built
  ? 'vfu-server scenarios'
  : `vfu-server scenarios (skipped: ${vfuServerCliPath()} not built)`;
if (!built) console.log(`interop: ${title}`);

/** A temp dir and a started vfu-server (with `--trace`), both cleaned up when the test ends. */
async function server(
  spec: (dir: TempDir) => Omit<VfuServerSpec, 'trace'>,
): Promise<{ dir: TempDir; vfu: ManagedProcess }> {
  const dir = makeTempDir('vfu-io-');
  onTestFinished(() => dir.remove());
  const vfu = await startVfuServer({ ...spec(dir), trace: true });
  onTestFinished(() => vfu.stop().then(() => undefined));
  return { dir, vfu };
}

function passed(result: GuestRunResult, vfu: ManagedProcess): GuestRunResult {
  assertGuestPassed(result, [vfu]);
  return result;
}

/** Connects to a UNIX socket (a character backend) and collects what arrives as text. */
async function connectBackend(path: string): Promise<{ socket: Socket; received: () => string }> {
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = createConnection(path, () => resolve(s));
    s.once('error', reject);
  });
  onTestFinished(() => void socket.destroy());
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    text += chunk;
  });
  return { socket, received: () => text };
}

/** A region of one function in the monitor's `query-pci` answer. */
interface QueryPciRegion {
  readonly bar: number;
  readonly type: string;
  readonly address: number;
  readonly size: number;
}

/** `{endpoint: {bar: region}}` from `query-pci` (each endpoint has one function). */
function regionsByEndpoint(reply: unknown): Map<string, Map<number, QueryPciRegion>> {
  const buses = reply as Array<{ endpoint: string; devices: Array<{ regions: QueryPciRegion[] }> }>;
  return new Map(
    buses.map((bus) => [bus.endpoint, new Map((bus.devices[0]?.regions ?? []).map((r) => [r.bar, r]))]),
  );
}

/** Start address (a number) of a BAR as the guest reported it (`KIND 0xSTART 0xSIZE`). */
function barStart(result: GuestRunResult, key: string): number {
  return Number(guestValue(result, key).split(' ')[1]);
}

const FACTORIALS = [1, 1, 2, 6, 24, 120, 720, 5040] as const;

describe.skipIf(!built)(title, () => {
  test('1. enumeration: ids, class, BAR kinds and sizes, capabilities, interrupt pin', async () => {
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
          expectLspci('edu-subsystem', 'edu', 'Subsystem: Red Hat, Inc. Device [1af4:1100]'),
          expectBar('edu-bar0', 'edu', 0, 'mem32', 1 << 20),
          expectBar('edu-bar1', 'edu', 1, 'none', 0),
          expectLspci('edu-caps', 'edu', 'Status: Cap+'),
          expectLspci('edu-msi', 'edu', 'Capabilities: [40] MSI: Enable- Count=1/1 Maskable- 64bit+'),
          check('edu-no-msix', '! lspci -vv -s "$edu" | grep -q MSI-X'),
          expectLspci('edu-pin', 'edu', 'Interrupt: pin A'),
          findDevice('testdev', '1b36:0005'),
          expectLspci(
            'testdev-id',
            'testdev',
            'Unclassified device [00ff]: Red Hat, Inc. QEMU PCI Test Device [1b36:0005]',
          ),
          expectLspci(
            'testdev-subsystem',
            'testdev',
            'Subsystem: Red Hat, Inc. QEMU Virtual Machine [1af4:1100]',
          ),
          expectBar('testdev-bar0', 'testdev', 0, 'mem32', 4096),
          expectBar('testdev-bar1', 'testdev', 1, 'io', 256),
          expectBar('testdev-bar2', 'testdev', 2, 'none', 0),
          expectLspci('testdev-no-caps', 'testdev', 'Status: Cap-'),
          expectOutput('testdev-no-pin', 'setpci -s "$testdev" INTERRUPT_PIN', '00'),
          check('testdev-no-interrupt-line', '! lspci -vv -s "$testdev" | grep -q Interrupt:'),
          findDevice('serial', '1b36:0002'),
          expectLspci(
            'serial-id',
            'serial',
            'Serial controller [0700]: Red Hat, Inc. QEMU PCI 16550A Adapter [1b36:0002] (rev 01)',
          ),
          expectLspci('serial-progif', 'serial', '(prog-if 02 [16550])'),
          expectLspci(
            'serial-subsystem',
            'serial',
            'Subsystem: Red Hat, Inc. QEMU Virtual Machine [1af4:1100]',
          ),
          expectBar('serial-bar0', 'serial', 0, 'io', 8),
          expectBar('serial-bar1', 'serial', 1, 'none', 0),
          expectLspci('serial-no-caps', 'serial', 'Status: Cap-'),
          expectLspci('serial-pin', 'serial', 'Interrupt: pin A'),
          expectLspci('serial-driver', 'serial', 'Kernel driver in use: serial'),
          findDevice('gpio', '494f:0dc8'),
          expectLspci('gpio-id', 'gpio', 'Non-VGA unclassified device [0000]'),
          expectLspci('gpio-vendor-device', 'gpio', '[494f:0dc8]'),
          expectBar('gpio-bar0', 'gpio', 0, 'none', 0),
          expectBar('gpio-bar2', 'gpio', 2, 'io', 256),
          expectLspci('gpio-no-caps', 'gpio', 'Status: Cap-'),
          expectOutput('gpio-pin', 'setpci -s "$gpio" INTERRUPT_PIN', '01'),
        ),
      }),
      vfu,
    );
  });

  test('2. edu: identification, liveness, factorial with status bits, DMA to and from guest RAM', async () => {
    const { dir, vfu } = await server((d) => ({
      endpoints: [{ id: 's0', socketPath: d.join('s0.sock') }],
      devices: [{ driver: 'edu', id: 'edu0', bus: 's0' }],
    }));
    // DMA goes through the guest RAM the client mapped with DMA_MAP (memfd fds). The kernel keeps
    // out of a `memmap=` reserved range, and /dev/mem may touch it (it is not System RAM).
    const ram = 0x8000000;
    passed(
      await runGuest({
        name: 'edu',
        devices: [{ socketPath: dir.join('s0.sock') }],
        kernelArgs: [`memmap=64K$0x${ram.toString(16)}`],
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
          expectOutput(
            'bus-master-on',
            'setpci -s "$edu" COMMAND=0x0006 && setpci -s "$edu" COMMAND',
            '0006',
          ),
          `devmem 0x${ram.toString(16)} 32 0x11223344`,
          `devmem 0x${(ram + 4).toString(16)} 32 0x55667788`,
          // RAM -> the device's buffer at 0x40000, then the buffer -> RAM + 0x100 (command bit 1).
          barWrite('edu', 0, 0x80, 8, ram),
          barWrite('edu', 0, 0x88, 8, 0x40000),
          barWrite('edu', 0, 0x90, 8, 8),
          barWrite('edu', 0, 0x98, 8, 1),
          waitBarRead('dma-from-ram-done', 'edu', 0, 0x98, 8, 0x1, 0),
          barWrite('edu', 0, 0x80, 8, 0x40000),
          barWrite('edu', 0, 0x88, 8, ram + 0x100),
          barWrite('edu', 0, 0x98, 8, 3),
          waitBarRead('dma-to-ram-done', 'edu', 0, 0x98, 8, 0x1, 0),
          expectOutput('dma-round-trip', `devmem 0x${(ram + 0x100).toString(16)} 64`, '0x5566778811223344'),
        ),
      }),
      vfu,
    );
  });

  test('3. pci-serial: 8250_pci binds, a tty appears, bytes go both ways', async () => {
    let chardevPath = '';
    const { dir, vfu } = await server((d) => {
      chardevPath = d.join('ttyS.sock');
      return {
        endpoints: [{ id: 's0', socketPath: d.join('s0.sock') }],
        devices: [
          {
            driver: 'pci-serial',
            id: 'serial0',
            bus: 's0',
            properties: { chardev: `socket:${chardevPath}` },
          },
        ],
        readySockets: [chardevPath],
      };
    });
    const backend = await connectBackend(chardevPath);
    const result = passed(
      await runGuest({
        name: 'serial',
        devices: [{ socketPath: dir.join('s0.sock') }],
        script: guestScript(
          findDevice('serial', '1b36:0002'),
          expectDriver('driver-serial', 'serial', 'serial'),
          findTty('tty-found', 'serial', 'tty'),
          expectOutput('uart-16550a', 'cat "/sys/class/tty/$tty/type"', '4'),
          // Held open so the port keeps its IRQ (8250 frees it on the last close) for the check below.
          'exec 3<"/dev/$tty"',
          'stty -F "/dev/$tty" raw -echo 115200',
          '( timeout 20 head -n 1 <"/dev/$tty" >/tmp/rx ) &',
          'reader=$!',
          'sleep 1',
          'echo hello-from-guest >"/dev/$tty"',
          waitForHost('serial-ready'),
          'wait "$reader"',
          'vfu_expect_eq received-from-host "$(cat /tmp/rx)" hello-from-host',
          // Received bytes are delivered by the UART's interrupt (INTx through the client's eventfd).
          check(
            'serial-interrupts',
            'n="$(awk -v irq="$(cat "/sys/bus/pci/devices/$serial/irq"):" \'$1 == irq { print $2 }\' /proc/interrupts)"; test -n "$n" && test "$n" -gt 0',
          ),
          'exec 3<&-',
        ),
        onEvent: async (event, guest) => {
          if (event.kind !== 'mark' || event.name !== 'serial-ready') return;
          // The guest wrote before blocking; wait for its bytes, then answer.
          const deadline = Date.now() + 10_000;
          while (!backend.received().includes('hello-from-guest') && Date.now() < deadline)
            await new Promise((r) => setTimeout(r, 50));
          backend.socket.write('hello-from-host\n');
          guest.release();
        },
      }),
      vfu,
    );
    expect(result.values.get('tty.tty')?.[0]).toMatch(/^ttyS\d+$/);
    expect(backend.received()).toContain('hello-from-guest');
  });

  test('4. GPIO: gpio-pci-idio-16 binds, gpiochip registered, output seen by server, input read by guest', async () => {
    const { dir, vfu } = await server((d) => ({
      endpoints: [{ id: 's0', socketPath: d.join('s0.sock') }],
      devices: [{ driver: 'pci-idio-16', id: 'gpio0', bus: 's0', properties: { inputs: 0x8000 } }],
      monitorSocket: d.join('monitor.sock'),
    }));
    const monitor = await connectQmp(dir.join('monitor.sock'));
    onTestFinished(() => monitor.close());
    const seen: Array<{ inputs: number; outputs: number }> = [];
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
          // Lines 0-15 are the outputs, 16-31 the inputs; inputs=0x8000 at power-on.
          expectGpioLine('power-on-input-15', 'chip', 31, 1),
          expectGpioLine('power-on-input-0', 'chip', 16, 0),
          setGpioLine('output-3', 'chip', 3, 1),
          setGpioLine('output-12', 'chip', 12, 1),
          waitForHost('outputs-set'),
          expectGpioLine('input-0', 'chip', 16, 1),
          expectGpioLine('input-1', 'chip', 17, 0),
          expectGpioLine('input-2', 'chip', 18, 1),
          expectGpioLine('input-9', 'chip', 25, 1),
          expectGpioLine('input-15', 'chip', 31, 0),
        ),
        onEvent: async (event, guest) => {
          if (event.kind !== 'mark' || event.name !== 'outputs-set') return;
          // A zero mask changes nothing and returns the current levels.
          seen.push(
            (await monitor.execute('gpio-set-inputs', { id: 'gpio0', value: 0, mask: 0 })) as {
              inputs: number;
              outputs: number;
            },
          );
          seen.push(
            (await monitor.execute('gpio-set-inputs', { id: 'gpio0', value: 0x0205 })) as {
              inputs: number;
              outputs: number;
            },
          );
          guest.release();
        },
      }),
      vfu,
    );
    expect(seen).toEqual([
      { inputs: 0x8000, outputs: (1 << 3) | (1 << 12) },
      { inputs: 0x0205, outputs: (1 << 3) | (1 << 12) },
    ]);
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
          expectBarRead('mmio-test0-name', 't', 0, 0x10, 4, 0x6f696d6d), // "mmio"
          barWrite('t', 0, 0x800, 1, 0xfa),
          barWrite('t', 0, 0x800, 1, 0x00),
          barWrite('t', 0, 0x800, 1, 0xfa),
          barWrite('t', 0, 0x800, 1, 0xfa),
          expectBarRead('mmio-test0-count', 't', 0, 0xc, 4, 3),
          barWrite('t', 1, 0x0, 1, 0),
          expectBarRead('io-test0-index', 't', 1, 0x0, 1, 3),
          expectBarRead('io-test0-offset', 't', 1, 0x4, 4, 0x83),
          expectBarRead('io-test0-name', 't', 1, 0x10, 4, 0x74726f70), // "port"
          barWrite('t', 1, 0x83, 1, 0xfa),
          barWrite('t', 1, 0x83, 1, 0xfa),
          expectBarRead('io-test0-count', 't', 1, 0xc, 4, 2),
          barWrite('t', 0, 0x0, 1, 0),
          expectBarRead('mmio-reselect-resets-count', 't', 0, 0xc, 4, 0),
          barWrite('t', 0, 0x0, 1, 3),
          expectBarRead('mmio-deselected', 't', 0, 0x4, 4, 0),
        ),
      }),
      vfu,
    );
  });

  test('6. isolation: two guests on endpoints of one server, same BAR addresses, separate state', async () => {
    const ids = ['s0', 's1', 's2', 's3'];
    const { dir, vfu } = await server((d) => ({
      endpoints: ids.map((id) => ({ id, socketPath: d.join(`${id}.sock`) })),
      devices: [
        { driver: 'edu', id: 'edu0', bus: 's0' },
        { driver: 'pci-testdev', id: 'testdev0', bus: 's1' },
        { driver: 'edu', id: 'edu1', bus: 's2' },
        { driver: 'pci-testdev', id: 'testdev1', bus: 's3' },
      ],
      monitorSocket: d.join('monitor.sock'),
    }));
    const monitor = await connectQmp(dir.join('monitor.sock'));
    onTestFinished(() => monitor.close());
    // Both guests have written their values before either reads back; at that point the server's
    // view of the BARs the two firmwares programmed is taken.
    const waiting: RunningGuest[] = [];
    let abandoned = false;
    let serverView: Map<string, Map<number, QueryPciRegion>> | undefined;
    const written = async (event: { kind: string; name?: string }, guest: RunningGuest) => {
      if (event.kind !== 'mark' || event.name !== 'written') return;
      waiting.push(guest);
      if (waiting.length < 2 && !abandoned) return;
      if (!abandoned) serverView = regionsByEndpoint(await monitor.execute('query-pci'));
      for (const g of waiting) g.release();
    };
    // A guest that ends early (a failed check) must not leave the other waiting for its timeout.
    const abandon = (result: GuestRunResult) => {
      abandoned = true;
      for (const g of waiting) g.release();
      return result;
    };
    const script = (value: number, writes: number) =>
      guestScript(
        findDevice('edu', '1234:11e8'),
        findDevice('t', '1b36:0005'),
        enableDevice('edu'),
        enableDevice('t'),
        reportBar('edu-bar0', 'edu', 0),
        reportBar('testdev-bar0', 't', 0),
        reportBar('testdev-bar1', 't', 1),
        barWrite('edu', 0, 0x04, 4, value),
        barWrite('edu', 0, 0x08, 4, value & 0x7),
        barWrite('t', 0, 0x0, 1, 0),
        barWrite('t', 1, 0x0, 1, 0),
        ...Array.from({ length: writes }, () => [
          barWrite('t', 0, 0x800, 1, 0xfa),
          barWrite('t', 1, 0x83, 1, 0xfa),
        ]),
        waitForHost('written'),
        expectBarRead('liveness-own', 'edu', 0, 0x04, 4, ~value >>> 0),
        waitBarRead('factorial-done', 'edu', 0, 0x20, 4, 0x01, 0),
        expectBarRead('factorial-own', 'edu', 0, 0x08, 4, FACTORIALS[value & 0x7]!),
        expectBarRead('mmio-count-own', 't', 0, 0xc, 4, writes),
        expectBarRead('io-count-own', 't', 1, 0xc, 4, writes),
      );
    const [a, b] = await Promise.all([
      runGuest({
        name: 'guest-a',
        devices: [{ socketPath: dir.join('s0.sock') }, { socketPath: dir.join('s1.sock') }],
        script: script(0x11111113, 2),
        onEvent: written,
      }).then(abandon),
      runGuest({
        name: 'guest-b',
        devices: [{ socketPath: dir.join('s2.sock') }, { socketPath: dir.join('s3.sock') }],
        script: script(0x22222225, 5),
        onEvent: written,
      }).then(abandon),
    ]);
    passed(a, vfu);
    passed(b, vfu);
    // Identical machines: the firmware put both guests' BARs at the same addresses.
    for (const key of ['bdf.edu', 'bdf.t', 'edu-bar0', 'testdev-bar0', 'testdev-bar1'])
      expect(guestValue(a, key), key).toBe(guestValue(b, key));
    expect(guestValue(a, 'testdev-bar1')).toMatch(/^io /);
    // The server saw the same programmed addresses on each guest's own root bus.
    expect(serverView).toBeDefined();
    const view = serverView!;
    expect(view.get('s0')?.get(0)?.address).toBe(barStart(a, 'edu-bar0'));
    expect(view.get('s2')?.get(0)?.address).toBe(barStart(b, 'edu-bar0'));
    expect(view.get('s1')?.get(1)?.address).toBe(barStart(a, 'testdev-bar1'));
    expect(view.get('s3')?.get(1)?.address).toBe(barStart(b, 'testdev-bar1'));
  });

  test('7. hot-add: the monitor adds an endpoint and device, a second QEMU drives it, the first is undisturbed', async () => {
    const { dir, vfu } = await server((d) => ({
      endpoints: [{ id: 's0', socketPath: d.join('s0.sock') }],
      devices: [{ driver: 'pci-testdev', id: 'testdev0', bus: 's0' }],
      monitorSocket: d.join('monitor.sock'),
    }));
    const monitor = await connectQmp(dir.join('monitor.sock'));
    onTestFinished(() => monitor.close());
    const hotSocket = dir.join('s1.sock');

    let atPlug: ((guest: RunningGuest) => void) | undefined;
    const plugReached = new Promise<RunningGuest>((resolve) => {
      atPlug = resolve;
    });
    const first = runGuest({
      name: 'first',
      devices: [{ socketPath: dir.join('s0.sock') }],
      script: guestScript(
        findDevice('t', '1b36:0005'),
        enableDevice('t'),
        barWrite('t', 0, 0x0, 1, 0),
        barWrite('t', 0, 0x800, 1, 0xfa),
        barWrite('t', 0, 0x800, 1, 0xfa),
        expectBarRead('count-before', 't', 0, 0xc, 4, 2),
        waitForHost('plug'),
        check('edu-absent', '! grep -qx 0x11e8 /sys/bus/pci/devices/*/device'),
        expectBarRead('count-kept', 't', 0, 0xc, 4, 2),
        barWrite('t', 0, 0x800, 1, 0xfa),
        expectBarRead('count-after', 't', 0, 0xc, 4, 3),
        expectBarRead('offset-after', 't', 0, 0x4, 4, 0x800),
      ),
      onEvent: (event, guest) => {
        if (event.kind === 'mark' && event.name === 'plug') atPlug?.(guest);
      },
    });
    const early = await Promise.race([plugReached, first]);
    if (!('release' in early)) {
      passed(early, vfu);
      throw new Error('the first guest ended before reaching its rendezvous');
    }
    // Whatever happens on the host side, the first guest is released and awaited, so its QEMU
    // never outlives the test.
    let failure: unknown;
    try {
      await monitor.execute('object-add', {
        'qom-type': 'vfio-user-server',
        id: 's1',
        socket: { type: 'unix', path: hotSocket },
      });
      await monitor.execute('device_add', { driver: 'edu', id: 'edu1', bus: 's1' });
      await vfu.waitForPath(hotSocket, 10_000);
      const endpoints = (await monitor.execute('query-vfio-user-servers')) as Array<{
        id: string;
        connected: boolean;
        driver: string | null;
      }>;
      expect(endpoints.map((e) => [e.id, e.connected, e.driver])).toEqual([
        ['s0', true, 'pci-testdev'],
        ['s1', false, 'edu'],
      ]);
      passed(
        await runGuest({
          name: 'second',
          devices: [{ socketPath: hotSocket }],
          script: guestScript(
            findDevice('edu', '1234:11e8'),
            check('testdev-absent', '! grep -qx 0x0005 /sys/bus/pci/devices/*/device'),
            enableDevice('edu'),
            expectBarRead('ident', 'edu', 0, 0x00, 4, 0x010000ed),
            barWrite('edu', 0, 0x04, 4, 0x0000ffff),
            expectBarRead('liveness', 'edu', 0, 0x04, 4, 0xffff0000),
            barWrite('edu', 0, 0x08, 4, 6),
            waitBarRead('factorial-done', 'edu', 0, 0x20, 4, 0x01, 0),
            expectBarRead('factorial-6', 'edu', 0, 0x08, 4, 720),
          ),
        }),
        vfu,
      );
    } catch (cause) {
      failure = cause;
    } finally {
      early.release();
    }
    const firstResult = await first;
    if (failure !== undefined) throw failure;
    passed(firstResult, vfu);
    const connected = monitor
      .events()
      .filter((e) => e.event === 'VFIO_USER_CLIENT_CONNECTED')
      .map((e) => (e.data as { endpoint: string }).endpoint);
    expect(connected).toEqual(['s0', 's1']);
  });
});
