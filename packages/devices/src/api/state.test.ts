/**
 * Device state of every zoo device through the framework: a random reachable state saved and
 * loaded into a fresh device behaves identically afterwards (property test), and the streams
 * checked in under test/fixtures/state keep loading (regenerate a new version's with
 * VFU_WRITE_STATE_FIXTURES=1; never replace an old version's).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fc, test } from '@fast-check/vitest';
import {
  DeviceTree,
  DeviceTypeRegistry,
  type InterruptSink,
  type MsiMessage,
  type PciDevice,
  PciRootBus,
} from '@vfu/pci';
import { describeVmStream } from '@vfu/vmstate';
import { describe, expect } from 'vitest';
import { flushMicrotasks, RecordingLog } from '../../test/helpers';
import { MemoryCharBackend } from '../chardev/memory';
import { ManualClock } from '../clock';
import { registerZooDevices } from '../zoo';
import { DefinedPciDevice } from './define-device';

const FIXTURES = join(import.meta.dirname, '../../test/fixtures/state');

class RecordingSink implements InterruptSink {
  readonly events: string[] = [];
  intx(_d: PciDevice, level: boolean): void {
    this.events.push(`intx ${level}`);
  }
  msi(_d: PciDevice, vector: number, m: MsiMessage): void {
    this.events.push(`msi ${vector} ${m.address} ${m.data}`);
  }
  msix(_d: PciDevice, vector: number, m: MsiMessage): void {
    this.events.push(`msix ${vector} ${m.address} ${m.data}`);
  }
}

/** A guest action: a BAR access, a config write, or time passing. */
type Op =
  | { kind: 'bar'; bar: number; offset: number; size: 1 | 2 | 4; value: number; read: boolean }
  | { kind: 'cfg'; offset: number; size: 1 | 2 | 4; value: number }
  | { kind: 'tick'; ns: number };

interface ZooCase {
  driver: string;
  props?: Record<string, string>;
  /** BAR index -> register offsets worth poking (4-byte aligned ones take 4-byte accesses). */
  bars: Record<number, { offsets: number[]; sizes: (1 | 2 | 4)[] }>;
  /** A fixed history that reaches a state with something in each part (for the fixture). */
  script: Op[];
}

const bar = (b: number, offset: number, value: number, size: 1 | 2 | 4 = 4): Op => ({
  kind: 'bar',
  bar: b,
  offset,
  size,
  value,
  read: false,
});
const cfg = (offset: number, value: number, size: 1 | 2 | 4 = 2): Op => ({
  kind: 'cfg',
  offset,
  size,
  value,
});
const ENABLE = [cfg(0x10, 0xfe00_0000, 4), cfg(0x14, 0xc000, 4), cfg(0x04, 0x7)];

const CASES: ZooCase[] = [
  {
    driver: 'edu',
    bars: { 0: { offsets: [0x04, 0x08, 0x20, 0x24, 0x60, 0x64, 0x80, 0x88, 0x90, 0x98], sizes: [4] } },
    script: [...ENABLE, bar(0, 0x04, 0x1234_5678), bar(0, 0x20, 0x80), bar(0, 0x08, 6), bar(0, 0x60, 0x40)],
  },
  {
    driver: 'pci-testdev',
    bars: {
      0: { offsets: [0, 1, 2, 3, 4, 8, 12, 0x800, 0x801, 0x802], sizes: [1, 2, 4] },
      1: { offsets: [0, 1, 2, 3, 4, 8, 12, 0x80, 0x81, 0x82], sizes: [1, 2, 4] },
    },
    script: [...ENABLE, bar(0, 0, 1, 1), bar(0, 0x801, 0, 1), bar(1, 0, 2, 1)],
  },
  {
    driver: 'pci-serial',
    props: { chardev: 'c0' },
    bars: { 0: { offsets: [0, 1, 2, 3, 4, 5, 6, 7], sizes: [1] } },
    script: [
      ...ENABLE,
      bar(0, 3, 0x03, 1),
      bar(0, 2, 0xc1, 1),
      bar(0, 1, 0x0f, 1),
      bar(0, 4, 0x10, 1),
      bar(0, 0, 0x41, 1),
      bar(0, 0, 0x42, 1),
    ],
  },
  {
    driver: 'pci-idio-16',
    bars: { 2: { offsets: [0, 1, 2, 3, 4, 5, 6, 7], sizes: [1] } },
    script: [...ENABLE, bar(2, 0, 0xa5, 1), bar(2, 4, 0x5a, 1), bar(2, 2, 0, 1), bar(2, 6, 0, 1)],
  },
];

function makeDevice(c: ZooCase) {
  const registry = new DeviceTypeRegistry();
  const clock = new ManualClock();
  const chardev = new MemoryCharBackend();
  registerZooDevices(registry, { clock, log: new RecordingLog(), resolveChardev: () => chardev });
  const tree = new DeviceTree({ registry });
  const sink = new RecordingSink();
  tree.addRootBus(new PciRootBus({ id: 's0', interruptSink: sink, hotplugHandler: {} }));
  const dev = tree.deviceAdd({ driver: c.driver, id: 'd0', bus: 's0', ...c.props });
  if (!(dev instanceof DefinedPciDevice)) throw new Error(`${c.driver} is not a defined device`);
  return { dev, clock, sink, chardev };
}

/** Runs `ops`; returns what the guest observed (reads, interrupts, serial output). */
async function run(d: ReturnType<typeof makeDevice>, ops: readonly Op[]): Promise<string[]> {
  const seen: string[] = [];
  for (const op of ops) {
    if (op.kind === 'cfg') d.dev.configWrite(op.offset, op.value & (2 ** (8 * op.size) - 1), op.size);
    else if (op.kind === 'tick') d.clock.advance(op.ns);
    else {
      const b = d.dev.bar(op.bar);
      if (b === undefined) continue;
      const buf = new Uint8Array(op.size);
      if (op.read) {
        const r = b.read(BigInt(op.offset), buf);
        seen.push(`${op.bar}:${op.offset} ${r} ${[...buf]}`);
      } else {
        for (let i = 0; i < op.size; i++) buf[i] = (op.value >>> (8 * i)) & 0xff;
        b.write(BigInt(op.offset), buf);
      }
    }
    await flushMicrotasks();
  }
  seen.push(...d.sink.events.splice(0), `out ${[...d.chardev.takeOutput()]}`);
  return seen;
}

function opArb(c: ZooCase): fc.Arbitrary<Op> {
  const barOps = Object.entries(c.bars).map(([index, spec]) =>
    fc.record({
      kind: fc.constant('bar' as const),
      bar: fc.constant(Number(index)),
      offset: fc.constantFrom(...spec.offsets),
      size: fc.constantFrom(...spec.sizes),
      value: fc.oneof(fc.integer({ min: 0, max: 12 }), fc.nat({ max: 0xffff_ffff })),
      read: fc.boolean(),
    }),
  );
  return fc.oneof(
    { arbitrary: fc.oneof(...barOps), weight: 8 },
    {
      arbitrary: fc.record({ kind: fc.constant('tick' as const), ns: fc.nat({ max: 2_000_000 }) }),
      weight: 1,
    },
    {
      // Command (memory/io/master/INTx disable), MSI enable/disable.
      arbitrary: fc.record({
        kind: fc.constant('cfg' as const),
        offset: fc.constant(0x04),
        size: fc.constant(2 as const),
        value: fc.constantFrom(0x7, 0x3, 0x407),
      }),
      weight: 1,
    },
  );
}

describe.each(CASES)('$driver state', (c) => {
  test.prop([fc.array(opArb(c), { maxLength: 40 }), fc.array(opArb(c), { maxLength: 30 })], { numRuns: 25 })(
    'random reachable state: saved, loaded into a fresh device, identical behaviour afterwards',
    async (before, after) => {
      const a = makeDevice(c);
      await run(a, [...ENABLE, ...before]);
      const stream = a.dev.saveState();
      const b = makeDevice(c);
      b.dev.loadState(stream);
      b.sink.events.length = 0;
      a.sink.events.length = 0;
      expect(b.dev.saveState()).toEqual(stream);
      const probe: Op[] = [...after, { kind: 'tick', ns: 10_000_000 }];
      expect(await run(b, probe)).toEqual(await run(a, probe));
      expect(b.dev.saveState()).toEqual(a.dev.saveState());
    },
  );

  test('the checked-in stream keeps loading and behaves as the state it was saved from', async () => {
    const a = makeDevice(c);
    await run(a, c.script);
    const file = join(FIXTURES, `${c.driver}-v1.vfustate`);
    if (process.env.VFU_WRITE_STATE_FIXTURES === '1' && !existsSync(file))
      writeFileSync(file, a.dev.saveState());
    const fixture = new Uint8Array(readFileSync(file));
    expect(describeVmStream(fixture)).toContain(c.driver === 'pci-serial' ? 'serial' : c.driver);
    const b = makeDevice(c);
    b.dev.loadState(fixture);
    a.sink.events.length = 0;
    b.sink.events.length = 0;
    const probe: Op[] = Object.entries(c.bars).flatMap(([i, spec]) =>
      spec.offsets.map(
        (offset): Op => ({ kind: 'bar', bar: Number(i), offset, size: spec.sizes[0]!, value: 0, read: true }),
      ),
    );
    probe.push({ kind: 'tick', ns: 10_000_000 }, ...probe);
    expect(b.dev.config.config).toEqual(a.dev.config.config);
    expect(await run(b, probe)).toEqual(await run(a, probe));
  });
});
