import {
  DeviceTree,
  DeviceTypeRegistry,
  type InterruptSink,
  type MsiMessage,
  type PciDevice,
  PciRootBus,
  prop,
} from '@vfu/pci';
import { defineVmState, loadVmStream, saveVmStream, VmStateError, vm } from '@vfu/vmstate';
import { afterEach, describe, expect, test } from 'vitest';
import { RecordingLog } from '../../test/helpers';
import { ManualClock } from '../clock';
import type { DeviceContext } from './context';
import { defineDevice, registerDeviceTypes } from './define-device';
import { type RegisterBank, registerTable } from './register-bank';
import { deviceState, pciVmState } from './state';

class Sink implements InterruptSink {
  readonly msis: { vector: number; message: MsiMessage }[] = [];
  readonly msixs: number[] = [];
  intx(): void {}
  msi(_d: PciDevice, vector: number, message: MsiMessage): void {
    this.msis.push({ vector, message });
  }
  msix(_d: PciDevice, vector: number): void {
    this.msixs.push(vector);
  }
}

/** A timer device: write a delay to 0x0, MSI 0 fires when it expires; `level` is a runtime property. */
class Timer {
  readonly regs: RegisterBank<Timer>;
  level: number;
  constructor(readonly ctx: DeviceContext<{ level: number; 'period-ns': number }>) {
    this.regs = TABLE.bind(this, { log: ctx.log, deviceName: ctx.type });
    this.level = ctx.props.level;
  }
  arm(ns: number): void {
    this.ctx.clock.setTimer(ns, () => {
      this.regs.set('expired', this.regs.u32('expired') + 1);
      this.ctx.irq.msi.notify(0);
    });
  }
}

const TABLE = registerTable<Timer>({ size: 0x1000, minAccess: 4, maxAccess: 4 }, (r) => [
  r.u32(0x0, 'arm', { access: 'wo', write: (d, v) => d.arm(v) }),
  r.u32(0x4, 'expired', { access: 'ro' }),
  r.u32(0x8, 'level', { access: 'ro', read: (d) => d.level }),
]);

const timer = defineDevice({
  name: 'test-timer',
  description: 'a timer for tests',
  identity: { vendorId: 0x1234, deviceId: 0x0001, classCode: 0xff0000, revision: 2 },
  properties: {
    level: prop.uint8({ default: 3, description: 'a runtime-settable level' }),
    'period-ns': prop.uint32({ default: 10 }),
  },
  create: (ctx) => new Timer(ctx),
  runtime: {
    level: {
      get: (d) => d.level,
      set: (d, v) => {
        d.level = v;
      },
    },
  },
  bars: (d) => [
    { index: 0, kind: 'mem32', registers: d.regs },
    { index: 2, kind: 'mem64', ram: 0x2000 },
  ],
  rom: () => new Uint8Array([0x55, 0xaa]),
  capabilities: { pm: {}, msi: { vectors: 1, address64: true } },
  reset: (d) => d.regs.reset(),
  state: deviceState({
    schema: defineVmState({
      name: 'test-timer',
      version: 2,
      minimumVersion: 1,
      fields: { regs: TABLE.stateField(), level: vm.u8({ since: 2, default: 3 }) },
    }),
    save: (d: Timer) => ({ regs: d.regs.save(), level: d.level }),
    check: (_d: Timer, v) => (v.level > 200 ? `level: ${v.level} is above 200` : undefined),
    load: (d: Timer, v) => {
      d.regs.load(v.regs);
      d.level = v.level;
    },
  }),
});

const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!();
});

function setup() {
  const registry = new DeviceTypeRegistry();
  const clock = new ManualClock();
  const log = new RecordingLog();
  registerDeviceTypes(registry, [timer], { clock, log });
  const tree = new DeviceTree({ registry });
  const sink = new Sink();
  const bus = new PciRootBus({ id: 's0', interruptSink: sink, hotplugHandler: {} });
  tree.addRootBus(bus);
  const dev = tree.deviceAdd({ driver: 'test-timer', id: 't0', bus: 's0' });
  if (!timer.is(dev)) throw new Error('not a timer');
  return { registry, tree, dev, clock, log, sink };
}

const bar = (dev: PciDevice, i: number) => dev.bar(i)!;
const w32 = (dev: PciDevice, off: number, v: number) =>
  bar(dev, 0).write(BigInt(off), new Uint8Array(new Uint32Array([v]).buffer));
const r32 = (dev: PciDevice, off: number) => {
  const b = new Uint8Array(4);
  bar(dev, 0).read(BigInt(off), b);
  return new DataView(b.buffer).getUint32(0, true);
};

describe('defineDevice', () => {
  test('identity with QEMU default subsystem, BARs, ROM and capabilities in declaration order', () => {
    const { dev } = setup();
    const cfg = dev.config;
    expect(cfg.getWord(0x00)).toBe(0x1234);
    expect(cfg.getWord(0x02)).toBe(0x0001);
    expect(cfg.getByte(0x08)).toBe(2);
    expect(cfg.getWord(0x2c)).toBe(0x1af4);
    expect(cfg.getWord(0x2e)).toBe(0x1100);
    expect(dev.regions().map((r) => [r.index, r.kind, r.size])).toEqual([
      [0, 'mem32', 0x1000n],
      [2, 'mem64', 0x2000n],
      [6, 'rom', 0x800n],
    ]);
    expect(dev.pm!.offset).toBeLessThan(dev.msi!.offset);
  });

  test('the register table is the BAR; MSI goes through the context to the bus', () => {
    const { dev, clock, sink } = setup();
    dev.configWrite(0x04, 0x6, 2); // memory + bus master
    dev.configWrite(dev.msi!.offset + 2, 1, 2); // MSI enable
    w32(dev, 0x0, 50);
    clock.advance(49);
    expect(sink.msis).toHaveLength(0);
    clock.advance(1);
    expect(sink.msis.map((m) => m.vector)).toEqual([0]);
    expect(r32(dev, 0x4)).toBe(1);
    expect(dev.core.regs.u32('expired')).toBe(1);
  });

  test('runtime properties: typed get and set while realized; static ones stay locked', () => {
    const { dev } = setup();
    expect(dev.getProperty('level')).toBe(3);
    expect(dev.isPropertySettable('level')).toBe(true);
    dev.setProperty('level', '7');
    expect(dev.core.level).toBe(7);
    expect(r32(dev, 0x8)).toBe(7);
    expect(() => dev.setProperty('level', '300')).toThrow(/out of range/);
    expect(dev.isPropertySettable('period-ns')).toBe(false);
    expect(() => dev.setProperty('period-ns', '5')).toThrowError(
      expect.objectContaining({ code: 'property-locked' }),
    );
  });

  test('reset returns the table to its reset values', () => {
    const { dev, clock } = setup();
    dev.configWrite(0x04, 0x2, 2);
    w32(dev, 0x0, 1);
    clock.advance(1);
    expect(r32(dev, 0x4)).toBe(1);
    dev.reset('warm');
    dev.configWrite(0x04, 0x2, 2);
    expect(r32(dev, 0x4)).toBe(0);
  });

  test('state: PCI part and device part saved, loaded into another device', () => {
    const a = setup();
    a.dev.configWrite(0x10, 0xfebf_0000, 4); // BAR0
    a.dev.configWrite(0x04, 0x6, 2); // memory + bus master
    a.dev.core.regs.set('expired', 9);
    a.dev.setProperty('level', 5);
    const saved = a.dev.saveState();
    const b = setup();
    b.dev.loadState(saved);
    expect(b.dev.core.regs.u32('expired')).toBe(9);
    expect(b.dev.core.level).toBe(5);
    expect(b.dev.configRead(0x10, 4)).toBe(0xfebf_0000);
    expect(b.dev.barAddress(0)).toBe(0xfebf_0000n);
    expect(b.dev.busMasterEnabled).toBe(true);
    expect(b.dev.saveState()).toEqual(saved);
  });

  test('state: refused streams name the field and leave the device as it was', () => {
    const a = setup();
    a.dev.core.regs.set('expired', 9);
    const saved = a.dev.saveState();
    const b = setup();
    b.dev.core.regs.set('expired', 1);
    const before = b.dev.saveState();
    const [pci, own] = loadVmStream(saved, [pciVmState, timer.definition.state!.schema]) as [
      { config: Uint8Array },
      { regs: Record<string, number>; level: number },
    ];
    const own2 = timer.definition.state!.schema;
    const reject = (data: Uint8Array, code: string, field?: RegExp) => {
      let err: unknown;
      try {
        b.dev.loadState(data);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(VmStateError);
      expect((err as VmStateError).code).toBe(code);
      if (field !== undefined) expect((err as VmStateError).message).toMatch(field);
      expect(b.dev.saveState()).toEqual(before);
    };
    reject(saved.slice(0, saved.length - 9), 'truncated');
    const flipped = saved.slice();
    flipped[40] = (flipped[40] as number) ^ 0x10;
    reject(flipped, 'corrupted');
    // Another device's identity in the read-only config bytes.
    const otherId = pci.config.slice();
    otherId[0x02] = 0x99;
    reject(
      saveVmStream([
        { schema: pciVmState, value: { ...pci, config: otherId } as never },
        { schema: own2, value: own },
      ]),
      'bad-value',
      /byte 0x2/,
    );
    // The device's own check, after the PCI part passed.
    reject(
      saveVmStream([
        { schema: pciVmState, value: pci as never },
        { schema: own2, value: { ...own, level: 201 } },
      ]),
      'bad-value',
      /level/,
    );
    // Too new a version.
    const newer = defineVmState({ ...own2, version: 3 });
    reject(
      saveVmStream([
        { schema: pciVmState, value: pci as never },
        { schema: newer, value: own },
      ]),
      'too-new',
    );
    // Another device's section.
    const foreign = defineVmState({ ...own2, name: 'edu' });
    reject(
      saveVmStream([
        { schema: pciVmState, value: pci as never },
        { schema: foreign, value: own },
      ]),
      'foreign',
    );
  });

  test('a core runs without PCI, with an injected clock', () => {
    const clock = new ManualClock();
    const fired: number[] = [];
    const core = timer.createCore(
      { level: '9' },
      { clock, irq: { msi: { isEnabled: () => true, notify: (v) => fired.push(v) } } },
    );
    expect(core.level).toBe(9);
    core.regs.write(0x0, 5, 4);
    clock.advance(5);
    expect(fired).toEqual([0]);
    expect(core.regs.read(0x4, 4)).toBe(1);
  });

  test('registering twice is the registry error; help lists the type and its properties', () => {
    const { registry } = setup();
    expect(() => timer.register(registry)).toThrowError(
      expect.objectContaining({ code: 'duplicate-driver' }),
    );
    expect(registry.help()).toContain('name "test-timer", bus PCI, desc "a timer for tests"');
    expect(registry.help('test-timer')).toContain('level=<uint8> - a runtime-settable level (default: 3)');
  });
});
