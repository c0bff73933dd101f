import { MemoryContext } from '@vfu/memory';
import { describe, expect, test } from 'vitest';
import { FakeDma, flushMicrotasks, RecordingIrq, RecordingLog, RecordingMsi } from '../test/helpers';
import { ManualClock } from './clock';
import {
  EDU_DMA_BUFFER_SIZE,
  EDU_IDENTIFICATION,
  Edu,
  eduDevice,
  eduFactorial,
  EduRegister as R,
} from './edu';
import { isDeviceError } from './errors';

function makeEdu(props: Record<string, unknown> = {}) {
  const clock = new ManualClock();
  const irq = new RecordingIrq();
  const msi = new RecordingMsi();
  const log = new RecordingLog();
  const ram = new Uint8Array(0x10000);
  const dma = new FakeDma(ram, 0x100000n);
  const edu = eduDevice.createCore(props, { clock, log, dma, irq: { intx: irq, msi } });
  return { edu, clock, irq, msi, log, ram, dma };
}

/** Run the DMA timer (100 ms) and let the async transfer finish. */
async function completeDma(clock: ManualClock, edu: Edu): Promise<void> {
  clock.advance(100_000_000);
  await edu.whenIdle();
  await flushMicrotasks();
}

describe('edu registers after reset', () => {
  test('reset values match the reference capture word by word over 0x00..0xfc', () => {
    const { edu } = makeEdu();
    const named = new Map([
      [0x00, EDU_IDENTIFICATION],
      [0x04, 0],
      [0x08, 0],
      [0x20, 0],
      [0x24, 0],
      [0x80, 0],
      [0x88, 0],
      [0x90, 0],
      [0x98, 0],
    ]);
    for (let offset = 0; offset < 0x100; offset += 4) {
      expect(edu.read(offset, 4), `+0x${offset.toString(16)}`).toBe(named.get(offset) ?? 0xffffffff);
    }
  });

  test('the DMA buffer and the end of the BAR read all-ones', () => {
    const { edu } = makeEdu();
    expect(edu.read(0x100, 4)).toBe(0xffffffff);
    expect(edu.read(0x40000, 4)).toBe(0xffffffff);
    expect(edu.read(0xffffc, 4)).toBe(0xffffffff);
  });

  test('the register table documents every named register with its reset value', () => {
    const names = Edu.registers.map((r) => `${r.offset.toString(16)}:${r.name}`);
    expect(names).toEqual([
      '0:identification',
      '4:liveness',
      '8:factorial',
      '20:status',
      '24:interrupt status',
      '60:interrupt raise',
      '64:interrupt acknowledge',
      '80:dma source',
      '88:dma destination',
      '90:dma count',
      '98:dma command',
    ]);
  });
});

describe('edu identification', () => {
  test('identification is read-only and a write is logged as a guest error', () => {
    const { edu, log } = makeEdu();
    edu.write(R.Identification, 0x12345678, 4);
    expect(edu.read(R.Identification, 4)).toBe(0x010000ed);
    expect(log.guestErrors).toHaveLength(1);
    expect(log.guestErrors[0]).toMatchObject({ device: 'edu', register: 'identification', offset: 0 });
  });
});

describe('edu liveness', () => {
  test.each([
    [0x12345678, 0xedcba987],
    [0xa5a55a5a, 0x5a5aa5a5],
    [0x00000000, 0xffffffff],
    [0xffffffff, 0x00000000],
  ])('liveness reads ~0x%s', (written, expected) => {
    const { edu } = makeEdu();
    edu.write(R.Liveness, written, 4);
    expect(edu.read(R.Liveness, 4)).toBe(expected);
  });
});

describe('edu factorial', () => {
  test.each([
    [5, 120],
    [0, 1],
    [1, 1],
    [10, 3628800],
    [12, 479001600],
    [13, 0x7328cc00],
    [33, 0x80000000],
    [34, 0],
    [0xffffffff, 0],
  ])('factorial(%d) = %d modulo 2^32', (n, result) => {
    expect(eduFactorial(n)).toBe(result);
  });

  test('the computing bit is set until the factorial completes on the clock', () => {
    const { edu, clock } = makeEdu();
    edu.write(R.Factorial, 5, 4);
    expect(edu.read(R.Status, 4) & 0x01).toBe(0x01);
    clock.runPending();
    expect(edu.read(R.Status, 4)).toBe(0);
    expect(edu.read(R.Factorial, 4)).toBe(120);
  });

  test('a factorial write while computing is ignored and logged', () => {
    const { edu, clock, log } = makeEdu();
    edu.write(R.Factorial, 5, 4);
    edu.write(R.Factorial, 6, 4);
    clock.runPending();
    expect(edu.read(R.Factorial, 4)).toBe(120);
    expect(log.guestErrors.map((e) => e.register)).toEqual(['factorial']);
  });

  test('the factorial delay is honoured', () => {
    const { edu, clock } = makeEdu({ 'x-factorial-delay-ns': 1000 });
    edu.write(R.Factorial, 4, 4);
    clock.advance(999);
    expect(edu.read(R.Status, 4)).toBe(1);
    clock.advance(1);
    expect(edu.read(R.Status, 4)).toBe(0);
    expect(edu.read(R.Factorial, 4)).toBe(24);
  });
});

describe('edu status', () => {
  test('bit 0 (computing) is read-only', () => {
    const { edu } = makeEdu();
    edu.write(R.Status, 0x01, 4);
    expect(edu.read(R.Status, 4)).toBe(0);
  });

  test('bit 7 (interrupt on completion) is read/write and other bits read 0', () => {
    const { edu } = makeEdu();
    edu.write(R.Status, 0xffffffff, 4);
    expect(edu.read(R.Status, 4)).toBe(0x80);
    edu.write(R.Status, 0, 4);
    expect(edu.read(R.Status, 4)).toBe(0);
  });

  test('with bit 7 set a completed factorial raises interrupt 0x1', () => {
    const { edu, clock, irq } = makeEdu();
    edu.write(R.Status, 0x80, 4);
    edu.write(R.Factorial, 4, 4);
    expect(irq.level).toBe(false);
    clock.runPending();
    expect(edu.read(R.Factorial, 4)).toBe(0x18);
    expect(edu.read(R.InterruptStatus, 4)).toBe(0x1);
    expect(edu.read(R.Status, 4)).toBe(0x80);
    expect(irq.level).toBe(true);
  });

  test('without bit 7 a completed factorial raises nothing', () => {
    const { edu, clock, irq } = makeEdu();
    edu.write(R.Factorial, 4, 4);
    clock.runPending();
    expect(edu.read(R.InterruptStatus, 4)).toBe(0);
    expect(irq.history).toEqual([]);
  });
});

describe('edu interrupts', () => {
  test('the raise register ORs into the interrupt status and asserts INTx', () => {
    const { edu, irq } = makeEdu();
    edu.write(R.InterruptRaise, 0x00012345, 4);
    edu.write(R.InterruptRaise, 0x100, 4);
    expect(edu.read(R.InterruptStatus, 4)).toBe(0x00012345);
    expect(irq.level).toBe(true);
  });

  test('the acknowledge register clears bits and INTx drops only at zero', () => {
    const { edu, irq } = makeEdu();
    edu.write(R.InterruptRaise, 0x3, 4);
    edu.write(R.InterruptAcknowledge, 0x1, 4);
    expect(irq.level).toBe(true);
    expect(edu.read(R.InterruptStatus, 4)).toBe(0x2);
    edu.write(R.InterruptAcknowledge, 0x2, 4);
    expect(irq.level).toBe(false);
    expect(edu.read(R.InterruptStatus, 4)).toBe(0);
  });

  test('raising zero with nothing pending does not assert the line', () => {
    const { edu, irq } = makeEdu();
    edu.write(R.InterruptRaise, 0, 4);
    expect(irq.history).toEqual([]);
  });

  test('interrupt status is read-only', () => {
    const { edu, log } = makeEdu();
    edu.write(R.InterruptStatus, 0xff, 4);
    expect(edu.read(R.InterruptStatus, 4)).toBe(0);
    expect(log.guestErrors[0]?.register).toBe('interrupt status');
  });

  test('the raise and acknowledge registers read all-ones', () => {
    const { edu } = makeEdu();
    expect(edu.read(R.InterruptRaise, 4)).toBe(0xffffffff);
    expect(edu.read(R.InterruptAcknowledge, 4)).toBe(0xffffffff);
  });

  test('with MSI enabled a raise sends vector 0 and leaves INTx alone', () => {
    const { edu, irq, msi } = makeEdu();
    msi.enabled = true;
    edu.write(R.InterruptRaise, 0x8, 4);
    edu.write(R.InterruptRaise, 0x8, 4);
    expect(msi.vectors).toEqual([0, 0]);
    expect(irq.history).toEqual([]);
    edu.write(R.InterruptAcknowledge, 0x8, 4);
    expect(irq.history).toEqual([]);
  });
});

describe('edu DMA registers', () => {
  test('a 64-bit write of dma source round-trips and a 32-bit read gives the low half', () => {
    const { edu } = makeEdu();
    edu.write64(R.DmaSource, 0x1122334455667788n);
    expect(edu.read64(R.DmaSource)).toBe(0x1122334455667788n);
    expect(edu.read(R.DmaSource, 4)).toBe(0x55667788);
    expect(edu.read(R.DmaSource + 4, 4)).toBe(0xffffffff);
  });

  test('a 32-bit write to the low half zero-extends', () => {
    const { edu } = makeEdu();
    edu.write64(R.DmaSource, 0x1122334455667788n);
    edu.write(R.DmaSource, 0xcafef00d, 4);
    expect(edu.read64(R.DmaSource)).toBe(0xcafef00dn);
  });

  test('a 32-bit write to the upper half is ignored', () => {
    const { edu } = makeEdu();
    edu.write(R.DmaSource, 0xcafef00d, 4);
    edu.write(R.DmaSource + 4, 0x12345678, 4);
    expect(edu.read64(R.DmaSource)).toBe(0xcafef00dn);
  });

  test('through BAR0, an 8-byte access reaches the whole register', () => {
    const { edu } = makeEdu();
    const bar = new MemoryContext().createAddressSpace('bar0', edu.regs.region('edu-mmio'));
    const bytes = Uint8Array.of(0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11);
    expect(bar.write(BigInt(R.DmaDestination), bytes)).toBe('ok');
    expect(edu.read64(R.DmaDestination)).toBe(0x1122334455667788n);
    const back = new Uint8Array(8);
    expect(bar.read(BigInt(R.DmaDestination), back)).toBe('ok');
    expect(back).toEqual(bytes);
  });

  test('destination and count hold what was written', () => {
    const { edu } = makeEdu();
    edu.write(R.DmaDestination, 0x40000, 4);
    edu.write(R.DmaCount, 0x80, 4);
    expect(edu.read64(R.DmaDestination)).toBe(0x40000n);
    expect(edu.read64(R.DmaCount)).toBe(0x80n);
  });

  test('a command without the start bit is ignored', () => {
    const { edu, clock } = makeEdu();
    edu.write(R.DmaCommand, 0x6, 4);
    expect(edu.read(R.DmaCommand, 4)).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  test('64-bit accesses below 0x80 read all-ones and writes are ignored', () => {
    const { edu, log } = makeEdu();
    edu.write(R.Liveness, 0, 4);
    expect(edu.read64(0x00)).toBe(0xffffffffffffffffn);
    edu.write64(0x08, 0x0000000700000007n);
    expect(edu.read(R.Factorial, 4)).toBe(0);
    expect(edu.read(R.Status, 4)).toBe(0);
    expect(log.guestErrors).toHaveLength(2);
  });
});

describe('edu DMA transfers', () => {
  test('RAM to buffer and back moves the bytes through the DMA interface', async () => {
    const { edu, clock, ram, dma } = makeEdu();
    for (let i = 0; i < 100; i++) ram[0x100 + i] = i + 1;
    edu.write(R.DmaSource, 0x100100, 4);
    edu.write(R.DmaDestination, 0x40000, 4);
    edu.write(R.DmaCount, 100, 4);
    edu.write(R.DmaCommand, 1, 4);
    expect(edu.read(R.DmaCommand, 4) & 1).toBe(1);
    await completeDma(clock, edu);
    expect(edu.read(R.DmaCommand, 4) & 1).toBe(0);
    expect(dma.reads).toEqual([{ address: 0x100100n, length: 100 }]);

    edu.write(R.DmaSource, 0x40000, 4);
    edu.write(R.DmaDestination, 0x100100 + 100, 4);
    edu.write(R.DmaCount, 100, 4);
    edu.write(R.DmaCommand, 3, 4);
    await completeDma(clock, edu);
    expect(ram.subarray(0x100 + 100, 0x100 + 200)).toEqual(ram.subarray(0x100, 0x100 + 100));
    expect(edu.saveState().dmaBuffer.subarray(0, 100)).toEqual(ram.subarray(0x100, 0x100 + 100));
  });

  test('the start bit stays set until the transfer completes 100 ms later', async () => {
    const { edu, clock } = makeEdu();
    edu.write(R.DmaSource, 0x100000, 4);
    edu.write(R.DmaDestination, 0x40000, 4);
    edu.write(R.DmaCount, 8, 4);
    edu.write(R.DmaCommand, 1, 4);
    clock.advance(99_999_999);
    await flushMicrotasks();
    expect(edu.read(R.DmaCommand, 4)).toBe(1);
    clock.advance(1);
    await edu.whenIdle();
    expect(edu.read(R.DmaCommand, 4)).toBe(0);
  });

  test('completion raises interrupt 0x100 when the command asks for it', async () => {
    const { edu, clock, irq } = makeEdu();
    edu.write(R.DmaSource, 0x100000, 4);
    edu.write(R.DmaDestination, 0x40000, 4);
    edu.write(R.DmaCount, 4, 4);
    edu.write(R.DmaCommand, 0x5, 4);
    await completeDma(clock, edu);
    expect(edu.read(R.InterruptStatus, 4)).toBe(0x100);
    expect(irq.level).toBe(true);
    expect(edu.read(R.DmaCommand, 4)).toBe(0x4);
  });

  test('registers written while a transfer is pending are ignored', async () => {
    const { edu, clock, log } = makeEdu();
    edu.write(R.DmaSource, 0x100000, 4);
    edu.write(R.DmaDestination, 0x40000, 4);
    edu.write(R.DmaCount, 4, 4);
    edu.write(R.DmaCommand, 1, 4);
    edu.write(R.DmaSource, 0x200000, 4);
    edu.write(R.DmaCommand, 3, 4);
    expect(edu.read64(R.DmaSource)).toBe(0x100000n);
    expect(edu.read(R.DmaCommand, 4)).toBe(1);
    expect(log.guestErrors).toHaveLength(2);
    await completeDma(clock, edu);
  });

  test('a parameter write refused while a transfer is pending names the register it hit', async () => {
    const { edu, clock, log } = makeEdu();
    edu.write(R.DmaCount, 4, 4);
    edu.write(R.DmaCommand, 1, 4);
    edu.write(R.DmaSource, 0x200000, 4);
    edu.write64(R.DmaDestination, 0x40000n);
    edu.write(R.DmaCount, 1, 4);
    expect(log.guestErrors.map((e) => [e.offset, e.register])).toEqual([
      [R.DmaSource, 'dma source'],
      [R.DmaDestination, 'dma destination'],
      [R.DmaCount, 'dma count'],
    ]);
    await completeDma(clock, edu);
  });

  test('a range outside the 4 KiB buffer is logged and skipped, and the command completes', async () => {
    const { edu, clock, log, dma, irq } = makeEdu();
    edu.write(R.DmaSource, 0x100000, 4);
    edu.write(R.DmaDestination, 0x40000 + EDU_DMA_BUFFER_SIZE - 8, 4);
    edu.write(R.DmaCount, 16, 4);
    edu.write(R.DmaCommand, 0x5, 4);
    await completeDma(clock, edu);
    expect(dma.reads).toEqual([]);
    expect(log.guestErrors.some((e) => e.message.includes('out of the buffer'))).toBe(true);
    expect(edu.read(R.DmaCommand, 4) & 1).toBe(0);
    expect(irq.level).toBe(true);
  });

  test('a buffer address below 0x40000 is out of range', async () => {
    const { edu, clock, log } = makeEdu();
    edu.write(R.DmaSource, 0x3fff0, 4);
    edu.write(R.DmaDestination, 0x100000, 4);
    edu.write(R.DmaCount, 16, 4);
    edu.write(R.DmaCommand, 0x3, 4);
    await completeDma(clock, edu);
    expect(log.guestErrors.some((e) => e.message.includes('out of the buffer'))).toBe(true);
  });

  test('bus addresses above the DMA mask are clamped and logged', async () => {
    const { edu, clock, log, dma } = makeEdu();
    edu.write64(R.DmaSource, 0x1_0010_0000n);
    edu.write(R.DmaDestination, 0x40000, 4);
    edu.write(R.DmaCount, 4, 4);
    edu.write(R.DmaCommand, 1, 4);
    await completeDma(clock, edu);
    expect(dma.reads[0]?.address).toBe(0x0010_0000n);
    expect(log.guestErrors.some((e) => e.message.includes('clamping'))).toBe(true);
  });

  test('DMA while bus mastering is off reads zeros into the buffer and logs the decode error', async () => {
    const { edu, clock, log, dma, ram } = makeEdu();
    ram.fill(0xaa, 0, 16);
    edu.restoreState({ ...edu.saveState(), dmaBuffer: new Uint8Array(EDU_DMA_BUFFER_SIZE).fill(0x55) });
    dma.busMaster = false;
    edu.write(R.DmaSource, 0x100000, 4);
    edu.write(R.DmaDestination, 0x40000, 4);
    edu.write(R.DmaCount, 16, 4);
    edu.write(R.DmaCommand, 1, 4);
    await completeDma(clock, edu);
    expect([...edu.saveState().dmaBuffer.subarray(0, 17)]).toEqual([...new Array(16).fill(0), 0x55]);
    expect(log.guestErrors.some((e) => e.message.includes('decode-error'))).toBe(true);
  });

  test('a DMA write to unmapped memory is logged and completes', async () => {
    const { edu, clock, log } = makeEdu();
    edu.write(R.DmaSource, 0x40000, 4);
    edu.write(R.DmaDestination, 0x0, 4);
    edu.write(R.DmaCount, 16, 4);
    edu.write(R.DmaCommand, 3, 4);
    await completeDma(clock, edu);
    expect(edu.read(R.DmaCommand, 4)).toBe(2);
    expect(log.guestErrors.some((e) => e.message.includes('failed'))).toBe(true);
  });

  test('a DMA implementation that throws is contained', async () => {
    const clock = new ManualClock();
    const log = new RecordingLog();
    const edu = eduDevice.createCore(
      {},
      {
        clock,
        log,
        dma: {
          read: () => Promise.reject(new Error('boom')),
          write: () => Promise.reject(new Error('boom')),
        },
      },
    );
    edu.write(R.DmaSource, 0, 4);
    edu.write(R.DmaDestination, 0x40000, 4);
    edu.write(R.DmaCount, 4, 4);
    edu.write(R.DmaCommand, 1, 4);
    await completeDma(clock, edu);
    expect(edu.read(R.DmaCommand, 4)).toBe(0);
    expect(log.guestErrors.some((e) => e.message.includes('boom'))).toBe(true);
  });

  test('a count of zero transfers nothing and completes', async () => {
    const { edu, clock, dma } = makeEdu();
    edu.write(R.DmaDestination, 0x40000, 4);
    edu.write(R.DmaCommand, 1, 4);
    await completeDma(clock, edu);
    expect(dma.reads).toEqual([]);
    expect(edu.read(R.DmaCommand, 4)).toBe(0);
  });
});

describe('edu bad accesses', () => {
  test('8- and 16-bit reads return all-ones, as QEMU edu_mmio_read, and are logged', () => {
    const { edu, log } = makeEdu();
    expect(edu.read(0x00, 1)).toBe(0xff);
    expect(edu.read(0x00, 2)).toBe(0xffff);
    expect(edu.read(0x02, 2)).toBe(0xffff);
    expect(log.guestErrors).toHaveLength(3);
  });

  test('8- and 16-bit writes are ignored', () => {
    const { edu } = makeEdu();
    edu.write(R.Liveness, 0xff, 1);
    edu.write(R.Liveness, 0xffff, 2);
    expect(edu.read(R.Liveness, 4)).toBe(0);
  });

  test('unaligned accesses are rejected', () => {
    const { edu, log } = makeEdu();
    expect(edu.read(0x02, 4)).toBe(0xffffffff);
    edu.write(0x06, 1, 4);
    expect(edu.read(R.Liveness, 4)).toBe(0);
    expect(log.guestErrors.map((e) => e.message)).toEqual([
      'unaligned access refused',
      'unaligned access refused',
    ]);
  });

  test('accesses outside the 1 MiB BAR are logged, never thrown', () => {
    const { edu, log } = makeEdu();
    expect(edu.read(0x100000, 4)).toBe(0xffffffff);
    edu.write(-4, 0, 4);
    edu.write64(0xffffc, 1n);
    expect(log.guestErrors).toHaveLength(3);
  });

  test('writes to unassigned offsets are ignored', () => {
    const { edu, log } = makeEdu();
    edu.write(0x10, 0x1234, 4);
    expect(edu.read(0x10, 4)).toBe(0xffffffff);
    expect(log.guestErrors[0]?.message).toContain('unassigned');
  });
});

describe('edu reset and state', () => {
  test('warm reset returns every register to its reset value and lowers the line', () => {
    const { edu, irq } = makeEdu();
    edu.write(R.Liveness, 0x1234, 4);
    edu.write(R.Status, 0x80, 4);
    edu.write(R.InterruptRaise, 0x5, 4);
    edu.write64(R.DmaSource, 0x1234n);
    edu.reset('warm');
    for (const reg of Edu.registers) {
      const expected = reg.width === 8 ? Number(reg.reset) : Number(reg.reset);
      expect(edu.read(reg.offset, 4), reg.name).toBe(expected >>> 0);
    }
    expect(irq.level).toBe(false);
  });

  test('reset cancels a pending factorial and DMA', async () => {
    const { edu, clock, dma } = makeEdu();
    edu.write(R.Factorial, 5, 4);
    edu.write(R.DmaDestination, 0x40000, 4);
    edu.write(R.DmaCount, 4, 4);
    edu.write(R.DmaCommand, 1, 4);
    edu.reset();
    expect(clock.pendingTimers).toBe(0);
    await completeDma(clock, edu);
    expect(edu.read(R.Factorial, 4)).toBe(0);
    expect(dma.reads).toEqual([]);
  });

  test('a transfer in flight during reset does not touch the new state', async () => {
    const { edu, clock, ram } = makeEdu();
    ram.fill(0x77, 0, 4);
    edu.write(R.DmaSource, 0x100000, 4);
    edu.write(R.DmaDestination, 0x40000, 4);
    edu.write(R.DmaCount, 4, 4);
    edu.write(R.DmaCommand, 5, 4);
    clock.advance(100_000_000); // transfer issued, not complete
    edu.reset('cold');
    await edu.whenIdle();
    expect(edu.read(R.InterruptStatus, 4)).toBe(0);
    expect(edu.saveState().dmaBuffer.subarray(0, 4)).toEqual(new Uint8Array(4));
  });

  test('cold reset clears the DMA buffer, warm reset keeps it', () => {
    const { edu } = makeEdu();
    const state = edu.saveState();
    state.dmaBuffer[0] = 0x42;
    edu.restoreState(state);
    edu.reset('warm');
    expect(edu.saveState().dmaBuffer[0]).toBe(0x42);
    edu.reset('cold');
    expect(edu.saveState().dmaBuffer[0]).toBe(0);
  });

  test('save/restore round-trips and resumes a pending factorial', () => {
    const a = makeEdu();
    a.edu.write(R.Liveness, 1, 4);
    a.edu.write(R.Status, 0x80, 4);
    a.edu.write(R.Factorial, 6, 4);
    const saved = structuredClone(a.edu.saveState());
    const b = makeEdu();
    b.edu.restoreState(saved);
    expect(b.edu.read(R.Liveness, 4)).toBe(0xfffffffe);
    expect(b.edu.read(R.Status, 4)).toBe(0x81);
    b.clock.runPending();
    expect(b.edu.read(R.Factorial, 4)).toBe(720);
    expect(b.irq.level).toBe(true);
  });

  test('restoring a malformed state throws a DeviceError', () => {
    const { edu } = makeEdu();
    const bad = { ...edu.saveState(), dmaBuffer: new Uint8Array(3) };
    expect(() => edu.restoreState(bad)).toThrowError(expect.objectContaining({ code: 'invalid-state' }));
    try {
      const saved = edu.saveState();
      edu.restoreState({ ...saved, registers: { ...saved.registers, status: 0x100 } });
    } catch (e) {
      expect(isDeviceError(e)).toBe(true);
    }
  });

  test('invalid properties are refused by their schema, naming the property', () => {
    expect(() => eduDevice.createCore({ dma_mask: '-1' })).toThrowError(
      expect.objectContaining({
        code: 'property-out-of-range',
        context: expect.objectContaining({ property: 'dma_mask' }),
      }),
    );
    expect(() => eduDevice.createCore({ 'x-dma-delay-ns': 'NaN' })).toThrowError(
      expect.objectContaining({ code: 'invalid-property-value' }),
    );
  });
});
