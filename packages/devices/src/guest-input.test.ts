import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { FakeDma, flushMicrotasks, RecordingIrq, RecordingLog, RecordingMsi } from '../test/helpers';
import { MemoryCharBackend } from './chardev/memory';
import { ManualClock } from './clock';
import { eduDevice } from './edu';
import { PciIdio16 } from './pci-idio-16';
import { PciTestdev } from './pci-testdev';
import { Serial16550 } from './serial-16550';

// Whatever a guest does, a device never throws and reads stay within the access size.

const access = (barSize: number) =>
  fc.record({
    write: fc.boolean(),
    offset: fc.oneof(fc.integer({ min: 0, max: barSize - 1 }), fc.integer({ min: -8, max: barSize + 8 })),
    size: fc.constantFrom(1 as const, 2 as const, 4 as const),
    value: fc.integer({ min: 0, max: 0xffffffff }),
  });

type Access = { write: boolean; offset: number; size: 1 | 2 | 4; value: number };

function drive(
  dev: { read(o: number, s: 1 | 2 | 4): number; write(o: number, v: number, s: 1 | 2 | 4): void },
  ops: Access[],
) {
  for (const op of ops) {
    if (op.write) {
      dev.write(op.offset, op.value, op.size);
    } else {
      const v = dev.read(op.offset, op.size);
      expect(Number.isInteger(v)).toBe(true);
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThan(2 ** (8 * op.size));
    }
  }
}

describe('random guest accesses', () => {
  const edoffsets = fc.constantFrom(
    0x00,
    0x04,
    0x08,
    0x20,
    0x24,
    0x60,
    0x64,
    0x80,
    0x84,
    0x88,
    0x90,
    0x98,
    0x9c,
    0x100,
  );
  test.prop([
    fc.array(
      fc.oneof(
        access(0x100000),
        fc.record({
          write: fc.boolean(),
          offset: edoffsets,
          size: fc.constant(4 as const),
          value: fc.integer({ min: 0, max: 0xffffffff }),
        }),
      ),
      { maxLength: 60 },
    ),
    fc.boolean(),
  ])('edu never throws; DMA and timers complete', async (ops, msiEnabled) => {
    const clock = new ManualClock();
    const msi = new RecordingMsi();
    msi.enabled = msiEnabled;
    const edu = eduDevice.createCore(
      {},
      {
        clock,
        irq: { msi, intx: new RecordingIrq() },
        log: new RecordingLog(),
        dma: new FakeDma(new Uint8Array(4096)),
      },
    );
    for (const op of ops) {
      drive(edu, [op]);
      clock.advance(50_000_000);
    }
    clock.advance(1_000_000_000);
    await edu.whenIdle();
    await flushMicrotasks();
    expect(edu.read(0x00, 4)).toBe(0x010000ed);
  });

  test.prop([fc.array(access(4096), { maxLength: 80 }), fc.array(access(256), { maxLength: 80 })])(
    'pci-testdev never throws on either BAR',
    (mmioOps, portioOps) => {
      const dev = new PciTestdev({ log: new RecordingLog() });
      drive(dev.mmio, mmioOps);
      drive(dev.portio, portioOps);
    },
  );

  test.prop([
    fc.array(access(8), { maxLength: 120 }),
    fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 5 }),
  ])('pci-serial never throws and IIR always names a 16550A interrupt', (ops, inputs) => {
    const clock = new ManualClock();
    const chardev = new MemoryCharBackend();
    const uart = new Serial16550({ clock, chardev, irq: new RecordingIrq(), log: new RecordingLog() });
    for (const [i, op] of ops.entries()) {
      const input = inputs[i % Math.max(1, inputs.length)];
      if (input !== undefined && i % 7 === 0) chardev.input(input);
      drive(uart, [op]);
      clock.advance(1_000_000);
      const lcr = uart.state.lcr;
      uart.write(3, lcr & 0x7f, 1);
      expect([0x01, 0x00, 0x02, 0x04, 0x06, 0x0c]).toContain(uart.read(2, 1) & 0x0f);
      uart.write(3, lcr, 1);
      expect(uart.state.receiveFifo.length).toBeLessThanOrEqual(16);
    }
  });

  test.prop([
    fc.array(access(256), { maxLength: 80 }),
    fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 10 }),
  ])('pci-idio-16 never throws; the line follows the pending bit', (ops, inputs) => {
    const irq = new RecordingIrq();
    const gpio = new PciIdio16({ irq, log: new RecordingLog() });
    for (const [i, op] of ops.entries()) {
      drive(gpio, [op]);
      const levels = inputs[i];
      if (levels !== undefined) gpio.setInputs(levels);
      expect(irq.level).toBe((gpio.state.interruptStatus & 0x4) !== 0);
    }
  });
});
