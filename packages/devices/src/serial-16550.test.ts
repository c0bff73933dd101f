import { describe, expect, test } from 'vitest';
import { RecordingIrq, RecordingLog } from '../test/helpers';
import { MemoryCharBackend } from './chardev/memory';
import { createHostClock, ManualClock } from './clock';
import { SerialRegister as R, Serial16550, type Serial16550Options } from './serial-16550';

function makeUart(options: Partial<Serial16550Options> = {}) {
  const clock = new ManualClock();
  const irq = new RecordingIrq();
  const log = new RecordingLog();
  const chardev = new MemoryCharBackend();
  const uart = new Serial16550({ clock, irq, log, chardev, ...options });
  const rd = (offset: number) => uart.read(offset, 1);
  const wr = (offset: number, value: number) => uart.write(offset, value, 1);
  return { uart, clock, irq, log, chardev, rd, wr };
}

describe('16550A reset values (reference capture)', () => {
  test('registers read RBR 00 IER 00 IIR 01 LCR 00 MCR 08 LSR 60 MSR b0 SCR 00', () => {
    const { rd } = makeUart();
    expect([0, 1, 2, 3, 4, 5, 6, 7].map(rd)).toEqual([0x00, 0x00, 0x01, 0x00, 0x08, 0x60, 0xb0, 0x00]);
    // A second pass reads the same: no read side effect changes anything at reset.
    expect([0, 1, 2, 3, 4, 5, 6, 7].map(rd)).toEqual([0x00, 0x00, 0x01, 0x00, 0x08, 0x60, 0xb0, 0x00]);
  });

  test('divisor latch reads DLL 0x0c DLM 0x00 (9600 baud) with DLAB set', () => {
    const { uart, rd, wr } = makeUart();
    wr(R.LCR, 0x80);
    expect([rd(R.DLL), rd(R.DLM), rd(R.IIR), rd(R.LCR)]).toEqual([0x0c, 0x00, 0x01, 0x80]);
    expect(uart.baudRate).toBe(9600);
  });

  test('the register table lists the eight registers with their reset values', () => {
    expect(Serial16550.registers.map((r) => [r.offset, r.name, r.reset])).toEqual([
      [0, 'RBR/THR', 0],
      [1, 'IER', 0],
      [2, 'IIR/FCR', 1],
      [3, 'LCR', 0],
      [4, 'MCR', 8],
      [5, 'LSR', 0x60],
      [6, 'MSR', 0xb0],
      [7, 'SCR', 0],
    ]);
  });
});

describe('16550A registers', () => {
  test('SCR is read/write', () => {
    const { rd, wr } = makeUart();
    wr(R.SCR, 0x5a);
    expect(rd(R.SCR)).toBe(0x5a);
  });

  test('IER keeps bits 3:0 only', () => {
    const { rd, wr, log } = makeUart();
    wr(R.IER, 0xff);
    expect(rd(R.IER)).toBe(0x0f);
    expect(log.unimplementedEvents).toHaveLength(1);
  });

  test('the divisor latch is written through DLL/DLM with DLAB and sets the baud rate', () => {
    const { uart, rd, wr } = makeUart();
    wr(R.LCR, 0x83);
    wr(R.DLL, 0x01);
    wr(R.DLM, 0x00);
    wr(R.LCR, 0x03);
    expect(uart.baudRate).toBe(115200);
    expect(rd(R.IER)).toBe(0); // DLM write did not touch IER
  });

  test('LCR is read/write', () => {
    const { rd, wr } = makeUart();
    wr(R.LCR, 0x13);
    expect(rd(R.LCR)).toBe(0x13);
  });

  test('MCR keeps bits 4:0 and logs reserved bits', () => {
    const { rd, wr, log } = makeUart();
    wr(R.MCR, 0xff);
    expect(rd(R.MCR)).toBe(0x1f);
    expect(log.guestErrors[0]?.register).toBe('MCR');
  });

  test('LSR and MSR are read-only: writes are logged and ignored', () => {
    const { rd, wr, log } = makeUart();
    wr(R.LSR, 0);
    wr(R.MSR, 0);
    expect(rd(R.LSR)).toBe(0x60);
    expect(rd(R.MSR)).toBe(0xb0);
    expect(log.guestErrors.map((e) => e.register)).toEqual(['LSR', 'MSR']);
  });

  test('wide accesses touch consecutive registers low byte first', () => {
    const { uart } = makeUart();
    expect(uart.read(4, 4)).toBe(0x00b06008);
    uart.write(6, 0x5a00, 2);
    expect(uart.read(7, 1)).toBe(0x5a);
  });

  test('accesses past the 8 registers are logged and read all-ones', () => {
    const { uart, log } = makeUart();
    expect(uart.read(8, 1)).toBe(0xff);
    uart.write(6, 0, 4);
    expect(log.guestErrors).toHaveLength(2);
  });
});

describe('16550A FIFOs', () => {
  test('FCR 0x07 enables the FIFOs: IIR reads 0xc1; FCR 0x00 goes back to 0x01', () => {
    const { rd, wr } = makeUart();
    wr(R.FCR, 0x07);
    expect(rd(R.IIR)).toBe(0xc1);
    wr(R.FCR, 0x00);
    expect(rd(R.IIR)).toBe(0x01);
  });

  test('the receive FIFO holds 16 bytes and an overrun sets OE without losing them', () => {
    const { uart, rd, wr } = makeUart();
    wr(R.FCR, 0x01);
    uart.receive(new Uint8Array(17).map((_, i) => i + 1));
    expect(uart.state.receiveFifo).toHaveLength(16);
    expect(rd(R.LSR) & 0x03).toBe(0x03);
    expect(rd(R.LSR) & 0x02).toBe(0); // reading LSR cleared OE
    const got = Array.from({ length: 16 }, () => rd(R.RBR));
    expect(got).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    expect(rd(R.LSR) & 0x01).toBe(0);
  });

  test.each([
    [0x01, 1],
    [0x41, 4],
    [0x81, 8],
    [0xc1, 14],
  ])('FCR 0x%s sets the receive trigger level to %i bytes', (fcr, level) => {
    const { uart, rd, wr, irq } = makeUart();
    wr(R.FCR, fcr);
    wr(R.IER, 0x01);
    expect(uart.triggerLevel).toBe(level);
    uart.receive(new Uint8Array(level - 1));
    expect(irq.level).toBe(false);
    uart.receive(new Uint8Array(1));
    expect(irq.level).toBe(true);
    expect(rd(R.IIR)).toBe(0xc4);
  });

  test('below the trigger level a character timeout interrupt fires after four character times', () => {
    const { clock, uart, rd, wr, irq } = makeUart();
    wr(R.FCR, 0x81);
    wr(R.IER, 0x01);
    uart.receive(Uint8Array.of(0x41, 0x42));
    expect(irq.level).toBe(false);
    clock.advance(4 * (1e9 / 9600) * 7 - 1); // 5 data bits + start + stop at LCR 0x00
    expect(irq.level).toBe(false);
    clock.advance(1);
    expect(rd(R.IIR)).toBe(0xcc);
    expect(rd(R.RBR)).toBe(0x41);
    expect(irq.level).toBe(false); // reading RBR clears the timeout indication
    expect(rd(R.RBR)).toBe(0x42);
    expect(rd(R.LSR) & 0x01).toBe(0);
  });

  test('the character timeout also fires on the host clock', async () => {
    const fired = new Promise<void>((resolve) => {
      const uart = new Serial16550({
        clock: createHostClock(),
        irq: { setLevel: (level) => level && resolve() },
      });
      uart.write(R.FCR, 0x81, 1);
      uart.write(R.IER, 0x01, 1);
      uart.receive(Uint8Array.of(1, 2));
    });
    await fired;
  });

  test('FCR clear-receive bit empties the FIFO and clears DR', () => {
    const { uart, rd, wr } = makeUart();
    wr(R.FCR, 0x01);
    uart.receive(Uint8Array.of(1, 2, 3));
    wr(R.FCR, 0x03);
    expect(uart.state.receiveFifo).toEqual([]);
    expect(rd(R.LSR) & 0x01).toBe(0);
  });

  test('toggling FIFO enable flushes the FIFO', () => {
    const { uart, wr } = makeUart();
    wr(R.FCR, 0x01);
    uart.receive(Uint8Array.of(1, 2, 3));
    wr(R.FCR, 0x00);
    expect(uart.state.receiveFifo).toEqual([]);
  });

  test('without FIFOs a second byte before RBR is read overruns', () => {
    const { uart, rd } = makeUart();
    uart.receive(Uint8Array.of(1));
    uart.receive(Uint8Array.of(2));
    expect(rd(R.LSR) & 0x03).toBe(0x03);
    expect(rd(R.RBR)).toBe(2);
  });
});

describe('16550A transmit and THRE interrupt', () => {
  test('a THR write goes to the backend and THRE/TEMT are set again', () => {
    const { rd, wr, chardev } = makeUart();
    wr(R.THR, 0x48);
    wr(R.THR, 0x69);
    expect(chardev.takeOutputText()).toBe('Hi');
    expect(rd(R.LSR) & 0x60).toBe(0x60);
  });

  test('IER THRI raises IIR 0x02 once; reading IIR clears it (reference capture)', () => {
    const { rd, wr, irq } = makeUart();
    wr(R.IER, 0x02);
    expect(irq.level).toBe(true);
    expect(rd(R.IER)).toBe(0x02);
    expect(rd(R.IIR)).toBe(0x02);
    expect(rd(R.IIR)).toBe(0x01);
    expect(irq.level).toBe(false);
    wr(R.IER, 0x00);
    expect(rd(R.IIR)).toBe(0x01);
  });

  test('writing THR re-arms the THRE interrupt', () => {
    const { rd, wr, irq } = makeUart();
    wr(R.IER, 0x02);
    rd(R.IIR);
    expect(irq.level).toBe(false);
    wr(R.THR, 0x41);
    expect(irq.level).toBe(true);
    expect(rd(R.IIR)).toBe(0x02);
  });

  test('Linux THRE probe: IER=THRI, IER=0, IER=THRI shows an interrupt both times (no UART_BUG_THRE)', () => {
    const { rd, wr } = makeUart();
    wr(R.IER, 0x02);
    const iir1 = rd(R.IIR);
    wr(R.IER, 0x00);
    wr(R.IER, 0x02);
    const iir = rd(R.IIR);
    expect(iir1 & 0x01).toBe(0);
    expect(iir & 0x01).toBe(0);
  });
});

describe('Linux 8250 autoconfig', () => {
  /** The probe sequence of drivers/tty/serial/8250/8250_port.c autoconfig(), as register accesses. */
  function autoconfig(rd: (o: number) => number, wr: (o: number, v: number) => void): string {
    // IER test: bits 3:0 must clear and set.
    wr(R.IER, 0);
    const scratch1 = rd(R.IER) & 0x0f;
    wr(R.IER, 0x0f);
    const scratch2 = rd(R.IER) & 0x0f;
    wr(R.IER, 0);
    if (scratch1 !== 0 || scratch2 !== 0x0f) return 'none (IER test)';
    // Loopback test: LOOP|OUT2|RTS must read DCD|CTS.
    const saveMcr = rd(R.MCR);
    wr(R.MCR, 0x10 | 0x0a);
    const status = rd(R.MSR) & 0xf0;
    wr(R.MCR, saveMcr);
    if (status !== 0x90) return 'none (loopback test)';
    // EFR probes with LCR 0xBF: a 16550A shows IIR there, not a zero EFR.
    wr(R.LCR, 0xbf);
    const efr = rd(2);
    wr(R.LCR, 0);
    wr(R.FCR, 0x01);
    const fifoBits = rd(R.IIR) >> 6;
    if (fifoBits !== 3) return fifoBits === 0 ? '16450' : '16550';
    if (efr === 0) return '16650-class';
    // 16750 check: the 64-byte FIFO bit must not stick.
    wr(R.FCR, 0x01 | 0x20);
    const status1 = rd(R.IIR) >> 5;
    wr(R.FCR, 0x01);
    wr(R.LCR, 0x80);
    wr(R.FCR, 0x01 | 0x20);
    const status2 = rd(R.IIR) >> 5;
    wr(R.FCR, 0x01);
    wr(R.LCR, 0);
    if (status1 === 6 && status2 === 7) return '16750';
    // XScale check: IER bit 6 must not stick.
    const ier = rd(R.IER);
    wr(R.IER, ier | 0x40);
    const uue = rd(R.IER) & 0x40;
    wr(R.IER, ier);
    return uue ? 'xscale' : '16550A';
  }

  test('the probe identifies a 16550A (PORT_16550A, 16-byte FIFO)', () => {
    const { rd, wr } = makeUart();
    expect(autoconfig(rd, wr)).toBe('16550A');
  });

  test('the probe leaves the UART usable: after it, bytes flow both ways with FIFOs on', () => {
    const { rd, wr, chardev } = makeUart();
    autoconfig(rd, wr);
    wr(R.FCR, 0x07);
    wr(R.THR, 0x41);
    expect(chardev.takeOutputText()).toBe('A');
    chardev.input('B');
    expect(rd(R.RBR)).toBe(0x42);
  });
});

describe('16550A interrupt priorities', () => {
  test('line status outranks received data, which outranks THRE, which outranks modem status', () => {
    const { uart, rd, wr } = makeUart();
    wr(R.IER, 0x0f);
    uart.state.msr |= 0x01; // a CTS change
    uart.receive(Uint8Array.of(1));
    uart.receive(Uint8Array.of(2)); // overrun
    expect(rd(R.IIR)).toBe(0x06);
    rd(R.LSR); // clears OE
    expect(rd(R.IIR)).toBe(0x04);
    rd(R.RBR);
    expect(rd(R.IIR)).toBe(0x02);
    expect(rd(R.IIR)).toBe(0x00);
    rd(R.MSR);
    expect(rd(R.IIR)).toBe(0x01);
  });

  test('a disabled source raises nothing', () => {
    const { uart, irq } = makeUart();
    uart.receive(Uint8Array.of(1));
    expect(irq.history).toEqual([]);
  });
});

describe('16550A loopback', () => {
  test('MSR mirrors MCR in loopback without delta bits (reference capture)', () => {
    const { rd, wr } = makeUart();
    wr(R.MCR, 0x10);
    expect([rd(R.MCR), rd(R.MSR), rd(R.MSR)]).toEqual([0x10, 0x00, 0x00]);
    wr(R.MCR, 0x1b);
    expect([rd(R.MCR), rd(R.MSR), rd(R.MSR)]).toEqual([0x1b, 0xb0, 0xb0]);
    wr(R.MCR, 0x08);
    expect([rd(R.MCR), rd(R.MSR), rd(R.MSR)]).toEqual([0x08, 0xb0, 0xb0]);
  });

  test('Linux autoconfig loop test: MCR LOOP|OUT2|RTS reads MSR 0x90 in the top nibble', () => {
    const { rd, wr } = makeUart();
    wr(R.MCR, 0x1a);
    expect(rd(R.MSR) & 0xf0).toBe(0x90);
  });

  test('bytes sent in loopback come back on RBR and never reach the backend', () => {
    const { rd, wr, chardev } = makeUart();
    wr(R.MCR, 0x10);
    wr(R.THR, 0x55);
    expect(rd(R.LSR) & 0x01).toBe(0x01);
    expect(rd(R.RBR)).toBe(0x55);
    expect(chardev.takeOutput()).toHaveLength(0);
  });

  test('backend input waits while in loopback and arrives after leaving it', () => {
    const { rd, wr, chardev } = makeUart();
    wr(R.MCR, 0x10);
    chardev.input('x');
    expect(rd(R.LSR) & 0x01).toBe(0);
    wr(R.MCR, 0x08);
    expect(rd(R.RBR)).toBe(0x78);
  });
});

describe('16550A flow control towards the backend', () => {
  test('without FIFOs the UART takes one byte at a time, the next after RBR is read', () => {
    const { rd, chardev, uart } = makeUart();
    chardev.input('abc');
    expect(uart.state.rbr).toBe(0x61);
    expect(chardev.queuedInput).toBe(2);
    expect(rd(R.LSR) & 0x02).toBe(0); // no overrun: the backend held the rest back
    expect(rd(R.RBR)).toBe(0x61);
    expect(rd(R.RBR)).toBe(0x62);
    expect(rd(R.RBR)).toBe(0x63);
    expect(chardev.queuedInput).toBe(0);
  });

  test('with FIFOs input never overruns: everything arrives in order', () => {
    const { rd, wr, chardev } = makeUart();
    wr(R.FCR, 0xc1);
    const text = 'the quick brown fox jumps over the lazy dog';
    chardev.input(text);
    let got = '';
    for (let i = 0; i < text.length; i++) {
      expect(rd(R.LSR) & 0x03).toBe(0x01);
      got += String.fromCharCode(rd(R.RBR));
    }
    expect(got).toBe(text);
  });

  test('a break from the backend sets BI and delivers a NUL byte', () => {
    const { rd, wr, chardev, irq } = makeUart();
    wr(R.IER, 0x04);
    chardev.sendBreak();
    expect(irq.level).toBe(true);
    expect(rd(R.LSR) & 0x11).toBe(0x11);
    expect(rd(R.RBR)).toBe(0);
  });
});

describe('16550A reset and state', () => {
  test('reset returns every register to its reset value and lowers the interrupt', () => {
    const { uart, rd, wr, irq } = makeUart();
    wr(R.LCR, 0x83);
    wr(R.DLL, 1);
    wr(R.LCR, 0x03);
    wr(R.IER, 0x0f);
    wr(R.FCR, 0x07);
    wr(R.MCR, 0x1f);
    wr(R.SCR, 0x12);
    uart.receive(Uint8Array.of(1));
    uart.reset();
    expect(irq.level).toBe(false);
    expect(Serial16550.registers.map((r) => rd(r.offset))).toEqual(
      Serial16550.registers.map((r) => Number(r.reset)),
    );
    expect(uart.baudRate).toBe(9600);
  });

  test('save/restore round-trips and re-derives IIR and the line', () => {
    const a = makeUart();
    a.wr(R.FCR, 0x01);
    a.wr(R.IER, 0x01);
    a.uart.receive(Uint8Array.of(7));
    const b = makeUart();
    b.uart.restoreState(structuredClone(a.uart.saveState()));
    expect(b.irq.level).toBe(true);
    expect(b.rd(R.IIR)).toBe(0xc4);
    expect(b.rd(R.RBR)).toBe(7);
  });

  test('restoring a malformed state throws invalid-state', () => {
    const { uart } = makeUart();
    expect(() => uart.restoreState({ ...uart.saveState(), receiveFifo: new Array(17).fill(0) })).toThrowError(
      expect.objectContaining({ code: 'invalid-state' }),
    );
  });

  test('a backend whose write throws loses the byte, not the UART', () => {
    const log = new RecordingLog();
    const uart = new Serial16550({
      clock: new ManualClock(),
      log,
      chardev: {
        kind: 'broken',
        attach() {},
        detach() {},
        write() {
          throw new Error('EPIPE');
        },
        acceptInput() {},
        close: async () => {},
      },
    });
    uart.write(R.THR, 0x41, 1);
    expect(uart.read(R.LSR, 1)).toBe(0x60);
    expect(log.guestErrors[0]?.message).toContain('EPIPE');
  });

  test('an invalid baudbase throws invalid-property', () => {
    expect(() => new Serial16550({ baudbase: 0 })).toThrowError(
      expect.objectContaining({ code: 'invalid-property' }),
    );
  });
});
