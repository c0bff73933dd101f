import { join } from 'node:path';
import { MemoryRegion } from '@vfu/memory';
import {
  DeviceTree,
  DeviceTypeRegistry,
  type InterruptSink,
  type MsiMessage,
  type PciDevice,
  PciRootBus,
  type PropertySchema,
} from '@vfu/pci';
import { makeTempDir } from '@vfu/test-utils';
import { afterEach, describe, expect, test } from 'vitest';
import { flushMicrotasks, RecordingLog } from '../test/helpers';
import type { DefinedPciDevice, DeviceType } from './api/define-device';
import { MemoryCharBackend } from './chardev/memory';
import { SocketCharBackend } from './chardev/socket';
import { ManualClock } from './clock';
import { eduDevice } from './edu';
import { pciIdio16Device } from './pci-idio-16';
import { pciSerialDevice } from './pci-serial';
import { pciTestdevDevice } from './pci-testdev';
import { DEFAULT_ZOO_DEVICES, registerZooDevices } from './zoo';

/** `device` as an instance of `type`, typed by it; fails the test otherwise. */
function as<S extends PropertySchema, D>(type: DeviceType<S, D>, device: unknown): DefinedPciDevice<S, D> {
  if (!type.is(device)) throw new Error(`not a ${type.name}`);
  return device;
}

const PCI_COMMAND = 0x04;
const PCI_STATUS = 0x06;
const CMD_IO = 0x1;
const CMD_MEM = 0x2;
const CMD_MASTER = 0x4;
const CMD_INTX_DISABLE = 0x400;

class RecordingSink implements InterruptSink {
  intxLevel = new Map<string, boolean>();
  messages: { device: string; vector: number; message: MsiMessage }[] = [];
  intx(device: PciDevice, level: boolean): void {
    this.intxLevel.set(device.id ?? device.driver, level);
  }
  msi(device: PciDevice, vector: number, message: MsiMessage): void {
    this.messages.push({ device: device.id ?? device.driver, vector, message });
  }
  msix(): void {}
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

function makeServerBus() {
  const registry = new DeviceTypeRegistry();
  const clock = new ManualClock();
  const log = new RecordingLog();
  const chardevs = new Map([['c0', new MemoryCharBackend()]]);
  registerZooDevices(registry, { clock, log, resolveChardev: (id) => chardevs.get(id) });
  const tree = new DeviceTree({ registry });
  const sink = new RecordingSink();
  // A hotplug handler makes the bus hotpluggable, as a vfio-user server's bus is (device_del).
  const bus = new PciRootBus({ id: 's0', interruptSink: sink, hotplugHandler: {} });
  tree.addRootBus(bus);
  return { registry, tree, bus, sink, clock, log, chardevs };
}

function barRead(
  device: PciDevice,
  index: number,
  offset: number,
  size: 1 | 2 | 4 | 8,
): { result: string; value: bigint } {
  const buf = new Uint8Array(size);
  const result = device.bar(index)!.read(BigInt(offset), buf);
  let value = 0n;
  for (let i = size - 1; i >= 0; i--) value = (value << 8n) | BigInt(buf[i]!);
  return { result, value };
}

function barWrite(
  device: PciDevice,
  index: number,
  offset: number,
  value: bigint | number,
  size: 1 | 2 | 4 | 8,
): string {
  const buf = new Uint8Array(size);
  let v = BigInt(value);
  for (let i = 0; i < size; i++) {
    buf[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return device.bar(index)!.write(BigInt(offset), buf);
}

const r32 = (d: PciDevice, bar: number, off: number) => Number(barRead(d, bar, off, 4).value);
const r8 = (d: PciDevice, bar: number, off: number) => Number(barRead(d, bar, off, 1).value);
const w32 = (d: PciDevice, bar: number, off: number, v: number) => barWrite(d, bar, off, v, 4);
const w8 = (d: PciDevice, bar: number, off: number, v: number) => barWrite(d, bar, off, v, 1);

/** The config bytes a device owns (BAR addresses, COMMAND and interrupt line are firmware-set). */
function configHeader(device: PciDevice, length: number): number[] {
  return [...device.config.config.subarray(0, length)];
}

describe('registration', () => {
  test('registerZooDevices registers the default set with help text', () => {
    const { registry } = makeServerBus();
    expect(DEFAULT_ZOO_DEVICES).toEqual(['edu', 'pci-testdev', 'pci-serial', 'pci-idio-16', 'nvme']);
    for (const name of DEFAULT_ZOO_DEVICES) expect(registry.has(name)).toBe(true);
    expect(registry.help('edu')).toContain('dma_mask=<uint64>');
    expect(registry.help('pci-serial')).toContain('chardev=<str>');
    expect(registry.help('pci-idio-16')).toContain('inputs=<uint16>');
  });

  test('only registers a subset; registering twice is the registry error', () => {
    const registry = new DeviceTypeRegistry();
    registerZooDevices(registry, { only: ['edu'] });
    expect(registry.has('pci-serial')).toBe(false);
    expect(() => registerZooDevices(registry, { only: ['edu'] })).toThrowError(
      expect.objectContaining({ code: 'duplicate-driver' }),
    );
  });

  test('an unknown zoo type is a DeviceError', () => {
    expect(() => registerZooDevices(new DeviceTypeRegistry(), { only: ['virtio-blk-pci'] })).toThrowError(
      expect.objectContaining({ code: 'unknown-device-type' }),
    );
  });

  test('-device syntax creates a device on the named bus', () => {
    const { tree } = makeServerBus();
    const dev = as(eduDevice, tree.deviceAddFromString('edu,id=edu0,bus=s0,addr=04.0'));
    expect(dev.devfn).toBe(0x20);
  });
});

describe('edu on a PCI bus', () => {
  function addEdu() {
    const ctx = makeServerBus();
    const dev = as(eduDevice, ctx.tree.deviceAdd({ driver: 'edu', id: 'edu0', bus: 's0' }));
    dev.configWrite(PCI_COMMAND, CMD_MEM, 2);
    return { ...ctx, dev };
  }

  test('config space matches the reference capture (ids, status, class, subsystem, pin, MSI at 0x40)', () => {
    const { dev } = addEdu();
    const cfg = configHeader(dev, 0x48);
    expect(cfg.slice(0, 4)).toEqual([0x34, 0x12, 0xe8, 0x11]);
    expect(cfg.slice(6, 12)).toEqual([0x10, 0x00, 0x10, 0x00, 0xff, 0x00]);
    expect(cfg.slice(0x2c, 0x30)).toEqual([0xf4, 0x1a, 0x00, 0x11]);
    expect(cfg[0x34]).toBe(0x40);
    expect(cfg[0x3d]).toBe(0x01);
    expect(cfg.slice(0x40, 0x44)).toEqual([0x05, 0x00, 0x80, 0x00]);
    expect(dev.configSize).toBe(256);
  });

  test('BAR0 is 1 MiB of 32-bit non-prefetchable memory and nothing else', () => {
    const { dev } = addEdu();
    expect(dev.regions().map((r) => [r.index, r.kind, r.size, r.prefetchable])).toEqual([
      [0, 'mem32', 0x100000n, false],
    ]);
  });

  test('32-bit BAR reads give identification and liveness; 8/16-bit reads are rejected (read 0)', () => {
    const { dev } = addEdu();
    expect(r32(dev, 0, 0x00)).toBe(0x010000ed);
    w32(dev, 0, 0x04, 0x12345678);
    expect(r32(dev, 0, 0x04)).toBe(0xedcba987);
    expect(barRead(dev, 0, 0, 1)).toEqual({ result: 'access-error', value: 0n });
    expect(barRead(dev, 0, 2, 2)).toEqual({ result: 'access-error', value: 0n });
  });

  test('64-bit DMA registers as QEMU: 8-byte accesses whole, 4-byte ones to the upper half ignored', () => {
    const { dev, log } = addEdu();
    expect(barWrite(dev, 0, 0x80, 0x1122334455667788n, 8)).toBe('ok');
    expect(barRead(dev, 0, 0x80, 8).value).toBe(0x1122334455667788n);
    expect(r32(dev, 0, 0x80)).toBe(0x55667788);
    expect(r32(dev, 0, 0x84)).toBe(0xffffffff);
    expect(w32(dev, 0, 0x84, 0xabcd)).toBe('ok');
    expect(w32(dev, 0, 0x8c, 0xabcd)).toBe('ok');
    expect(w32(dev, 0, 0x94, 0xabcd)).toBe('ok');
    expect(dev.core.regs.u64('dma source')).toBe(0x1122334455667788n);
    expect(dev.core.regs.u64('dma destination')).toBe(0n);
    expect(dev.core.regs.u64('dma count')).toBe(0n);
    // Below 0x80 an 8-byte access reaches edu_mmio_read, which answers all-ones (and writes nothing).
    expect(barRead(dev, 0, 0x00, 8)).toEqual({ result: 'ok', value: 0xffff_ffff_ffff_ffffn });
    expect(barWrite(dev, 0, 0x08, 5n, 8)).toBe('ok');
    expect(r32(dev, 0, 0x20)).toBe(0); // no factorial started
    expect(log.guestErrors.some((e) => e.message === 'access of 8 bytes refused' && e.offset === 0)).toBe(
      true,
    );
    // 1- and 2-byte accesses are outside `valid` and never reach the device.
    expect(barRead(dev, 0, 0x00, 2).result).toBe('access-error');
  });

  test('an unaligned 64-bit store at +0x04 is split into aligned halves (liveness, then factorial 6)', () => {
    const { dev, clock } = addEdu();
    expect(barWrite(dev, 0, 0x04, 0x0000000612345678n, 8)).toBe('ok');
    clock.runPending();
    expect(r32(dev, 0, 0x04)).toBe(0xedcba987);
    expect(r32(dev, 0, 0x08)).toBe(0x2d0);
  });

  test('interrupt raise asserts INTx at the sink; COMMAND.INTX_DISABLE masks it while Status.INTERRUPT follows', () => {
    const { dev, sink } = addEdu();
    w32(dev, 0, 0x60, 0x12345);
    expect(sink.intxLevel.get('edu0')).toBe(true);
    expect(dev.configRead(PCI_STATUS, 2) & 0x08).toBe(0x08);
    dev.configWrite(PCI_COMMAND, CMD_MEM | CMD_INTX_DISABLE, 2);
    expect(sink.intxLevel.get('edu0')).toBe(false);
    w32(dev, 0, 0x64, 0x12345);
    expect(dev.configRead(PCI_STATUS, 2)).toBe(0x0010);
  });

  test('with MSI enabled the factorial interrupt is a message, not INTx', () => {
    const { dev, sink, clock } = addEdu();
    dev.configWrite(PCI_COMMAND, CMD_MEM | CMD_MASTER, 2);
    dev.configWrite(0x44, 0xfee00000, 4);
    dev.configWrite(0x48, 0, 4);
    dev.configWrite(0x4c, 0x4041, 2);
    dev.configWrite(0x42, 0x0081, 2);
    w32(dev, 0, 0x20, 0x80);
    w32(dev, 0, 0x08, 4);
    clock.runPending();
    expect(sink.messages).toEqual([
      { device: 'edu0', vector: 0, message: { address: 0xfee00000n, data: 0x4041 } },
    ]);
    expect(sink.intxLevel.get('edu0')).toBeUndefined();
    expect(r32(dev, 0, 0x24)).toBe(1);
  });

  test('DMA moves bytes between guest RAM in the bus DMA space and the buffer', async () => {
    const { dev, bus, clock } = addEdu();
    const ram = MemoryRegion.ram('guest-ram', 0x10000n);
    bus.dmaRoot.addSubregion(0x100000n, ram);
    const bytes = ram.ramBuffer!;
    for (let i = 0; i < 100; i++) bytes[i] = 0x80 + i;
    dev.configWrite(PCI_COMMAND, CMD_MEM | CMD_MASTER, 2);
    w32(dev, 0, 0x80, 0x100000);
    w32(dev, 0, 0x88, 0x40000);
    w32(dev, 0, 0x90, 100);
    w32(dev, 0, 0x98, 1);
    clock.advance(100_000_000);
    await dev.core.whenIdle();
    expect(r32(dev, 0, 0x98)).toBe(0);
    w32(dev, 0, 0x80, 0x40000);
    w32(dev, 0, 0x88, 0x100000 + 0x1000);
    w32(dev, 0, 0x90, 100);
    w32(dev, 0, 0x98, 0x7);
    clock.advance(100_000_000);
    await dev.core.whenIdle();
    await flushMicrotasks();
    expect(bytes.subarray(0x1000, 0x1000 + 100)).toEqual(bytes.subarray(0, 100));
    expect(r32(dev, 0, 0x24)).toBe(0x100);
  });

  test('DMA while bus mastering is off is a logged decode error and writes nothing', async () => {
    const { dev, bus, clock, log } = addEdu();
    const ram = MemoryRegion.ram('guest-ram', 0x10000n);
    bus.dmaRoot.addSubregion(0x100000n, ram);
    w32(dev, 0, 0x80, 0x40000);
    w32(dev, 0, 0x88, 0x100000);
    w32(dev, 0, 0x90, 16);
    dev.core.dmaBuffer.fill(0xee, 0, 16);
    w32(dev, 0, 0x98, 3);
    clock.advance(100_000_000);
    await dev.core.whenIdle();
    expect(ram.ramBuffer!.subarray(0, 16)).toEqual(new Uint8Array(16));
    expect(log.guestErrors.some((e) => e.message.includes('decode-error'))).toBe(true);
  });

  test('device reset returns the registers to their reset values', () => {
    const { dev } = addEdu();
    w32(dev, 0, 0x04, 1);
    w32(dev, 0, 0x60, 1);
    dev.reset('warm');
    dev.configWrite(PCI_COMMAND, CMD_MEM, 2);
    expect([r32(dev, 0, 0x04), r32(dev, 0, 0x24)]).toEqual([0, 0]);
  });

  test('unplugging stops the pending factorial and DMA timers', () => {
    const { tree, dev, clock } = addEdu();
    w32(dev, 0, 0x08, 5);
    w32(dev, 0, 0x98, 1);
    expect(clock.pendingTimers).toBe(2);
    tree.deviceDel('edu0');
    expect(clock.pendingTimers).toBe(0);
  });

  test('dma_mask is a property', () => {
    const { tree } = makeServerBus();
    const dev = as(eduDevice, tree.deviceAddFromString('edu,id=e1,bus=s0,dma_mask=0xffffffff'));
    expect(dev.getProperty('dma_mask')).toBe(0xffffffffn);
  });
});

describe('pci-testdev on a PCI bus', () => {
  function addTestdev(extra: Record<string, unknown> = {}) {
    const ctx = makeServerBus();
    const dev = as(
      pciTestdevDevice,
      ctx.tree.deviceAdd({
        driver: 'pci-testdev',
        id: 't0',
        bus: 's0',
        ...extra,
      }),
    );
    dev.configWrite(PCI_COMMAND, CMD_MEM | CMD_IO, 2);
    return { ...ctx, dev };
  }

  test('config space and BARs match the reference capture', () => {
    const { dev } = addTestdev();
    const cfg = configHeader(dev, 0x40);
    expect(cfg.slice(0, 4)).toEqual([0x36, 0x1b, 0x05, 0x00]);
    expect(cfg.slice(6, 12)).toEqual([0x00, 0x00, 0x00, 0x00, 0xff, 0x00]);
    expect(cfg.slice(0x2c, 0x30)).toEqual([0xf4, 0x1a, 0x00, 0x11]);
    expect([cfg[0x34], cfg[0x3d]]).toEqual([0x00, 0x00]);
    expect(dev.regions().map((r) => [r.index, r.kind, r.size])).toEqual([
      [0, 'mem32', 4096n],
      [1, 'io', 256n],
    ]);
    expect(dev.irqInfo().intxCount).toBe(0);
  });

  test('headers read through both BARs; test numbers select per BAR', () => {
    const { dev } = addTestdev();
    w8(dev, 0, 0, 0);
    expect([r32(dev, 0, 0), r32(dev, 0, 4), r32(dev, 0, 8), r32(dev, 0, 0x10)]).toEqual([
      0x100, 0x800, 0xfa, 0x6f696d6d,
    ]);
    w8(dev, 1, 0, 2);
    expect([r32(dev, 1, 0), r32(dev, 1, 4)]).toEqual([0x105, 0x85]);
  });

  test('counts through the memory core match the capture (16-bit writes included)', () => {
    const { dev } = addTestdev();
    const count = (bar: number) => r32(dev, bar, 0x0c);
    w8(dev, 0, 0, 0);
    w8(dev, 0, 0x800, 0xfa);
    w8(dev, 0, 0x800, 0xfa);
    barWrite(dev, 0, 0x800, 0x00fa, 2);
    expect(count(0)).toBe(3);
    w8(dev, 0, 0, 1);
    w8(dev, 0, 0x801, 0xce);
    barWrite(dev, 0, 0x801, 0x00ce, 2);
    expect(count(0)).toBe(0);
    w8(dev, 0, 0, 2);
    barWrite(dev, 0, 0x802, 0x00fa, 2);
    expect(count(0)).toBe(1);
    w8(dev, 1, 0, 0);
    w8(dev, 1, 0x83, 0xfa);
    barWrite(dev, 1, 0x83, 0x00fa, 2);
    expect(count(1)).toBe(1);
    w8(dev, 1, 0, 1);
    barWrite(dev, 1, 0x84, 0x00ce, 2);
    expect(count(1)).toBe(1);
  });

  test('membar adds a 64-bit prefetchable BAR2; membar-backed makes it RAM', () => {
    const { dev } = addTestdev({ membar: '1M', 'membar-backed': 'on' });
    expect(dev.regions().map((r) => [r.index, r.kind, r.size, r.prefetchable])).toEqual([
      [0, 'mem32', 4096n, false],
      [1, 'io', 256n, false],
      [2, 'mem64', 0x100000n, true],
    ]);
    expect(dev.config.config[0x18]! & 0x0f).toBe(0x0c);
    barWrite(dev, 2, 8, 0x1122334455667788n, 8);
    expect(barRead(dev, 2, 8, 8).value).toBe(0x1122334455667788n);
  });

  test('an unbacked membar decodes nothing; a size that is not a power of two fails realize', () => {
    const { dev } = addTestdev({ membar: '64K' });
    barWrite(dev, 2, 0, 0xff, 1);
    expect(barRead(dev, 2, 0, 1).value).toBe(0n);
    const { tree } = makeServerBus();
    expect(() => tree.deviceAdd({ driver: 'pci-testdev', id: 't9', bus: 's0', membar: '3000' })).toThrow();
    expect(() => tree.deviceAdd({ driver: 'pci-testdev', id: 't8', bus: 's0', membar: '1Q' })).toThrow();
  });

  test('x-ioeventfd=off counts every matching write', () => {
    const { dev } = addTestdev({ 'x-ioeventfd': 'off' });
    w8(dev, 0, 0, 1);
    w8(dev, 0, 0x801, 0x31);
    expect(r32(dev, 0, 0x0c)).toBe(1);
  });
});

describe('pci-serial on a PCI bus', () => {
  function addSerial(chardev = 'memory') {
    const ctx = makeServerBus();
    const dev = as(
      pciSerialDevice,
      ctx.tree.deviceAdd({
        driver: 'pci-serial',
        id: 'ser0',
        bus: 's0',
        chardev,
      }),
    );
    dev.configWrite(PCI_COMMAND, CMD_IO, 2);
    return { ...ctx, dev };
  }

  test('config space matches the reference capture (class 0x070002, rev 1, pin A, no capabilities)', () => {
    const { dev } = addSerial();
    const cfg = configHeader(dev, 0x40);
    expect(cfg.slice(0, 4)).toEqual([0x36, 0x1b, 0x02, 0x00]);
    expect(cfg.slice(6, 12)).toEqual([0x00, 0x00, 0x01, 0x02, 0x00, 0x07]);
    expect(cfg.slice(0x2c, 0x30)).toEqual([0xf4, 0x1a, 0x00, 0x11]);
    expect([cfg[0x34], cfg[0x3d]]).toEqual([0x00, 0x01]);
    expect(dev.regions().map((r) => [r.index, r.kind, r.size])).toEqual([[0, 'io', 8n]]);
  });

  test('registers at reset through BAR0 match the capture', () => {
    const { dev } = addSerial();
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((o) => r8(dev, 0, o))).toEqual([0, 0, 0x01, 0, 0x08, 0x60, 0xb0, 0]);
  });

  test('bytes written to THR reach the memory chardev; input raises the receive interrupt on INTx', () => {
    const { dev, sink } = addSerial();
    const chardev = dev.core.chardev as MemoryCharBackend;
    for (const c of 'ok\n') w8(dev, 0, 0, c.charCodeAt(0));
    expect(chardev.takeOutputText()).toBe('ok\n');
    w8(dev, 0, 1, 0x01);
    chardev.input('x');
    expect(sink.intxLevel.get('ser0')).toBe(true);
    expect(r8(dev, 0, 0)).toBe(0x78);
    expect(sink.intxLevel.get('ser0')).toBe(false);
  });

  test('a chardev id resolves through the application table and is not closed on unplug', async () => {
    const { tree, chardevs } = makeServerBus();
    const dev = as(
      pciSerialDevice,
      tree.deviceAdd({
        driver: 'pci-serial',
        id: 's1',
        bus: 's0',
        chardev: 'c0',
      }),
    );
    expect(dev.core.chardev).toBe(chardevs.get('c0'));
    tree.deviceDel('s1');
    chardevs.get('c0')!.input('still open');
    expect(chardevs.get('c0')!.queuedInput).toBe(10);
  });

  test('a bad chardev value fails device_add with invalid-property', () => {
    const { tree } = makeServerBus();
    expect(() =>
      tree.deviceAdd({ driver: 'pci-serial', id: 's2', bus: 's0', chardev: 'tcp:x' }),
    ).toThrowError(
      expect.objectContaining({
        code: 'invalid-property',
        context: expect.objectContaining({ property: 'chardev' }),
      }),
    );
    expect(() => tree.deviceAdd({ driver: 'pci-serial', id: 's3', bus: 's0', chardev: 'nope' })).toThrowError(
      expect.objectContaining({ code: 'invalid-property' }),
    );
  });

  test('a socket chardev listens at realize and is removed at unplug', async () => {
    const dir = makeTempDir('vfu-ser-');
    cleanups.push(() => dir.remove());
    const path = join(dir.path, 'ttyS.sock');
    const { tree, dev } = addSerial(`socket:${path}`);
    await dev.core.ready;
    expect(dev.core.chardev).toBeInstanceOf(SocketCharBackend);
    tree.deviceDel('ser0');
    await new Promise((r) => setTimeout(r, 20));
    const { existsSync } = await import('node:fs');
    expect(existsSync(path)).toBe(false);
  });
});

describe('pci-idio-16 on a PCI bus', () => {
  function addGpio(inputs?: string) {
    const ctx = makeServerBus();
    const dev = as(
      pciIdio16Device,
      ctx.tree.deviceAdd({
        driver: 'pci-idio-16',
        id: 'gpio0',
        bus: 's0',
        ...(inputs === undefined ? {} : { inputs }),
      }),
    );
    dev.configWrite(PCI_COMMAND, CMD_IO, 2);
    return { ...ctx, dev };
  }

  test('494f:0dc8 with its registers in BAR2 (256 bytes of I/O) and pin A, as libvfio-user’s sample', () => {
    const { dev } = addGpio();
    expect(configHeader(dev, 4)).toEqual([0x4f, 0x49, 0xc8, 0x0d]);
    expect(dev.regions().map((r) => [r.index, r.kind, r.size])).toEqual([[2, 'io', 256n]]);
    expect(dev.config.config[0x3d]).toBe(1);
  });

  test('the inputs= property sets the power-on inputs', () => {
    const { dev } = addGpio('0x8001');
    expect([r8(dev, 2, 1), r8(dev, 2, 5)]).toEqual([0x01, 0x80]);
  });

  test('setInputs from the host raises the change interrupt on INTx once the guest enabled it', () => {
    const { dev, sink } = addGpio();
    r8(dev, 2, 2); // enable IRQ
    dev.setProperty('inputs', '0x0200'); // qom-set gpio0 inputs 0x200

    expect(sink.intxLevel.get('gpio0')).toBe(true);
    expect(r8(dev, 2, 6)).toBe(0x06);
    w8(dev, 2, 1, 0); // clear
    expect(sink.intxLevel.get('gpio0')).toBe(false);
    expect(dev.getProperty('inputs')).toBe(0x0200);
  });

  test('guest output writes are visible to the host', () => {
    const { dev } = addGpio();
    const seen: number[] = [];
    dev.core.onOutputsChanged((o) => seen.push(o));
    w8(dev, 2, 4, 0xa5);
    expect(
      dev
        .statusProperties()
        .find((p) => p.name === 'outputs')
        ?.get(),
    ).toBe(0xa500);
    expect(seen).toEqual([0xa500]);
  });

  test('an out-of-range inputs property is rejected by device_add', () => {
    const { tree } = makeServerBus();
    expect(() => tree.deviceAdd({ driver: 'pci-idio-16', id: 'g1', bus: 's0', inputs: '0x10000' })).toThrow();
  });
});
