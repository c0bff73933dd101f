/**
 * A National Semiconductor 16550A UART as a plain model: the core of QEMU's `pci-serial`
 * (1b36:0002), eight byte-wide registers on an I/O BAR.
 *
 * Registers (offset, DLAB = LCR bit 7):
 *
 * | off | read                | write              |
 * |-----|---------------------|--------------------|
 * | 0   | RBR (DLAB: DLL)     | THR (DLAB: DLL)    |
 * | 1   | IER (DLAB: DLM)     | IER (DLAB: DLM)    |
 * | 2   | IIR                 | FCR                |
 * | 3   | LCR                 | LCR                |
 * | 4   | MCR                 | MCR                |
 * | 5   | LSR                 | (ignored)          |
 * | 6   | MSR                 | (ignored)          |
 * | 7   | SCR                 | SCR                |
 *
 * Behaviour follows the 16550A datasheet and what Linux's 8250 driver probes (scratch register,
 * loopback through MSR, FIFO detection through IIR bits 7:6 = 0xC0, THRE interrupt re-armed by
 * IER writes and cleared by reading IIR), with the reset values a Linux guest reads from QEMU's
 * device (MCR 0x08, LSR 0x60, MSR 0xb0, divisor 12). Interrupt priorities, highest first:
 * receiver line status, character timeout, received data (at the FIFO trigger level),
 * transmitter holding register empty, modem status.
 *
 * Transmission is immediate: a byte written to THR goes to the backend at once and THRE/TEMT are
 * set again, as QEMU does; line speed only shapes the receive timeout (four character times).
 */

import { type RegisterBank, registerTable } from './api/register-bank';
import type { CharBackend, CharFrontend } from './chardev/char-backend';
import { createHostClock } from './clock';
import { DeviceError } from './errors';
import {
  type DeviceClock,
  type DeviceLog,
  disconnectedInterruptLine,
  type InterruptLine,
  type ResetKind,
  silentDeviceLog,
  type TimerHandle,
} from './interfaces';

/** PCI identity of QEMU's pci-serial. */
export const PCI_SERIAL_PCI_IDS = Object.freeze({
  vendorId: 0x1b36,
  deviceId: 0x0002,
  revision: 0x01,
  classCode: 0x070002,
  subsystemVendorId: 0x1af4,
  subsystemId: 0x1100,
});

/** Size of the UART's I/O BAR. */
export const SERIAL_IO_SIZE = 8;
/** Depth of each FIFO. */
export const SERIAL_FIFO_SIZE = 16;
/** Default baud base: a 1.8432 MHz clock divided by 16. */
export const SERIAL_DEFAULT_BAUDBASE = 115_200;

/** Register offsets (the DLAB aliases share offsets 0 and 1). */
export const SerialRegister = Object.freeze({
  RBR: 0,
  THR: 0,
  DLL: 0,
  IER: 1,
  DLM: 1,
  IIR: 2,
  FCR: 2,
  LCR: 3,
  MCR: 4,
  LSR: 5,
  MSR: 6,
  SCR: 7,
});

/** IER: received data available interrupt enable. */
export const UART_IER_RDI = 0x01;
/** IER: transmitter holding register empty interrupt enable. */
export const UART_IER_THRI = 0x02;
/** IER: receiver line status interrupt enable. */
export const UART_IER_RLSI = 0x04;
/** IER: modem status interrupt enable. */
export const UART_IER_MSI = 0x08;
/** IIR: no interrupt pending. */
export const UART_IIR_NO_INT = 0x01;
/** IIR: modem status interrupt. */
export const UART_IIR_MSI = 0x00;
/** IIR: transmitter holding register empty interrupt. */
export const UART_IIR_THRI = 0x02;
/** IIR: received data available interrupt. */
export const UART_IIR_RDI = 0x04;
/** IIR: receiver line status interrupt. */
export const UART_IIR_RLSI = 0x06;
/** IIR: character timeout indication. */
export const UART_IIR_CTI = 0x0c;
/** IIR bits 7:6: FIFOs enabled (what Linux tests to detect a 16550A). */
export const UART_IIR_FIFO_ENABLED = 0xc0;
/** FCR: enable the FIFOs. */
export const UART_FCR_ENABLE_FIFO = 0x01;
/** FCR: clear the receive FIFO. */
export const UART_FCR_CLEAR_RCVR = 0x02;
/** FCR: clear the transmit FIFO. */
export const UART_FCR_CLEAR_XMIT = 0x04;
/** FCR: DMA mode select (kept, no effect). */
export const UART_FCR_DMA_SELECT = 0x08;
/** FCR bits 7:6: receive trigger level (1, 4, 8, 14 bytes). */
export const UART_FCR_TRIGGER_MASK = 0xc0;
/** LCR: divisor latch access bit. */
export const UART_LCR_DLAB = 0x80;
/** LCR: set break control. */
export const UART_LCR_SBC = 0x40;
/** MCR: data terminal ready. */
export const UART_MCR_DTR = 0x01;
/** MCR: request to send. */
export const UART_MCR_RTS = 0x02;
/** MCR: OUT1. */
export const UART_MCR_OUT1 = 0x04;
/** MCR: OUT2 (set at reset, as QEMU). */
export const UART_MCR_OUT2 = 0x08;
/** MCR: loopback mode. */
export const UART_MCR_LOOP = 0x10;
/** LSR: data ready. */
export const UART_LSR_DR = 0x01;
/** LSR: overrun error. */
export const UART_LSR_OE = 0x02;
/** LSR: parity error. */
export const UART_LSR_PE = 0x04;
/** LSR: framing error. */
export const UART_LSR_FE = 0x08;
/** LSR: break interrupt. */
export const UART_LSR_BI = 0x10;
/** LSR: transmitter holding register empty. */
export const UART_LSR_THRE = 0x20;
/** LSR: transmitter empty. */
export const UART_LSR_TEMT = 0x40;
/** LSR bits that raise the receiver line status interrupt. */
export const UART_LSR_INT_ANY = UART_LSR_OE | UART_LSR_PE | UART_LSR_FE | UART_LSR_BI;
/** MSR: delta CTS. */
export const UART_MSR_DCTS = 0x01;
/** MSR: delta DSR. */
export const UART_MSR_DDSR = 0x02;
/** MSR: trailing edge of RI. */
export const UART_MSR_TERI = 0x04;
/** MSR: delta DCD. */
export const UART_MSR_DDCD = 0x08;
/** MSR: clear to send. */
export const UART_MSR_CTS = 0x10;
/** MSR: data set ready. */
export const UART_MSR_DSR = 0x20;
/** MSR: ring indicator. */
export const UART_MSR_RI = 0x40;
/** MSR: data carrier detect. */
export const UART_MSR_DCD = 0x80;
/** MSR: any of the delta bits. */
export const UART_MSR_ANY_DELTA = 0x0f;

/** Receive FIFO trigger levels for FCR bits 7:6. */
const TRIGGER_LEVELS = [1, 4, 8, 14] as const;

/** Plain-data state of the UART. */
export interface Serial16550State {
  /** Divisor latch (DLM:DLL). */
  divisor: number;
  /** Receive buffer (non-FIFO mode). */
  rbr: number;
  /** Interrupt enable. */
  ier: number;
  /** FIFO control bits that stick (enable, DMA mode, trigger level). */
  fcr: number;
  /** Line control. */
  lcr: number;
  /** Modem control. */
  mcr: number;
  /** Line status. */
  lsr: number;
  /** Modem status. */
  msr: number;
  /** Scratch. */
  scr: number;
  /** Receive FIFO contents, oldest first. */
  receiveFifo: number[];
  /** A THRE interrupt is pending (cleared by reading IIR or writing THR). */
  thrInterruptPending: boolean;
  /** A character timeout interrupt is pending. */
  timeoutInterruptPending: boolean;
}

/** What {@link Serial16550} is given at construction. */
export interface Serial16550Options {
  /** The character backend (line side). Without one, output is dropped and no input arrives. */
  chardev?: CharBackend;
  /** The UART's interrupt output. */
  irq?: InterruptLine;
  /** Time source for the receive timeout. */
  clock?: DeviceClock;
  /** Where guest errors go. */
  log?: DeviceLog;
  /** Input clock divided by 16 (default 115200). */
  baudbase?: number;
}

const SERIAL_REGISTERS = registerTable<Serial16550>(
  { size: SERIAL_IO_SIZE, maxAccess: 8, unassigned: 'ones' },
  (r) => [
    r.u8(0, 'RBR/THR', {
      doc: 'read: next received byte; write: byte to send (DLAB: divisor low byte)',
      read: (u) => u.readReceiveBuffer(),
      write: (u, v) => u.writeTransmitHolding(v),
    }),
    r.u8(1, 'IER', {
      doc: 'interrupt enable: RDI, THRI, RLSI, MSI (DLAB: divisor high byte)',
      read: (u) => (u.dlab ? u.state.divisor >> 8 : u.state.ier),
      write: (u, v) => u.writeInterruptEnable(v),
    }),
    r.u8(2, 'IIR/FCR', {
      reset: UART_IIR_NO_INT,
      doc: 'read: interrupt identification (clears a THRE interrupt); write: FIFO control',
      read: (u) => u.readInterruptIdentification(),
      write: (u, v) => u.writeFifoControl(v),
    }),
    r.u8(3, 'LCR', {
      doc: 'line control: word length, stop bits, parity, break, DLAB',
      read: (u) => u.state.lcr,
      write: (u, v) => u.writeLineControl(v),
    }),
    r.u8(4, 'MCR', {
      reset: UART_MCR_OUT2,
      doc: 'modem control: DTR, RTS, OUT1, OUT2, LOOP',
      read: (u) => u.state.mcr,
      write: (u, v) => u.writeModemControl(v),
    }),
    r.u8(5, 'LSR', {
      access: 'ro',
      reset: UART_LSR_THRE | UART_LSR_TEMT,
      doc: 'line status: DR, OE, PE, FE, BI, THRE, TEMT (reading clears OE and BI)',
      read: (u) => u.readLineStatus(),
    }),
    r.u8(6, 'MSR', {
      access: 'ro',
      reset: UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS,
      doc: 'modem status (reading clears the delta bits); in loopback mirrors MCR',
      read: (u) => u.readModemStatus(),
    }),
    r.u8(7, 'SCR', {
      doc: 'scratch',
      read: (u) => u.state.scr,
      write: (u, v) => {
        u.state.scr = v;
      },
    }),
  ],
);

function freshState(): Serial16550State {
  return {
    divisor: 12, // 9600 baud at 1.8432 MHz
    rbr: 0,
    ier: 0,
    fcr: 0,
    lcr: 0,
    mcr: UART_MCR_OUT2,
    lsr: UART_LSR_THRE | UART_LSR_TEMT,
    msr: UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS,
    scr: 0,
    receiveFifo: [],
    thrInterruptPending: false,
    timeoutInterruptPending: false,
  };
}

/** The 16550A core. It is also the {@link CharFrontend} of its backend. */
export class Serial16550 implements CharFrontend {
  /** The register table, for documentation and introspection. */
  static readonly registers = SERIAL_REGISTERS.registers;

  /** Live state. Mutate only through the device's methods. */
  state: Serial16550State = freshState();

  private chardev: CharBackend | undefined;
  private readonly irq: InterruptLine;
  private readonly clock: DeviceClock;
  private readonly log: DeviceLog;
  private readonly baudbase: number;
  private iir = UART_IIR_NO_INT;
  private irqLevel = false;
  private timeoutTimer: TimerHandle | undefined;
  private timeoutDeadline = 0;

  readonly #regs: RegisterBank<Serial16550>;

  constructor(options: Serial16550Options = {}) {
    this.irq = options.irq ?? disconnectedInterruptLine;
    this.clock = options.clock ?? createHostClock();
    this.log = options.log ?? silentDeviceLog;
    this.baudbase = options.baudbase ?? SERIAL_DEFAULT_BAUDBASE;
    if (!Number.isInteger(this.baudbase) || this.baudbase <= 0) {
      throw new DeviceError(
        'invalid-property',
        `serial: baudbase must be a positive integer, got ${this.baudbase}`,
        {
          deviceType: 'pci-serial',
          property: 'baudbase',
          value: this.baudbase,
        },
      );
    }
    this.#regs = SERIAL_REGISTERS.bind(this, { log: this.log, deviceName: 'pci-serial' });
    if (options.chardev !== undefined) this.setChardev(options.chardev);
  }

  /** The connected backend, if any. */
  get backend(): CharBackend | undefined {
    return this.chardev;
  }

  /** Connect `chardev` (detaching the previous one); `undefined` disconnects. */
  setChardev(chardev: CharBackend | undefined): void {
    this.chardev?.detach();
    this.chardev = chardev;
    chardev?.attach(this);
  }

  /** Whether the divisor latch is selected (LCR bit 7). */
  get dlab(): boolean {
    return (this.state.lcr & UART_LCR_DLAB) !== 0;
  }

  /** Whether the FIFOs are enabled (FCR bit 0). */
  get fifoEnabled(): boolean {
    return (this.state.fcr & UART_FCR_ENABLE_FIFO) !== 0;
  }

  /** Receive FIFO trigger level in bytes (1, 4, 8 or 14). */
  get triggerLevel(): number {
    return TRIGGER_LEVELS[(this.state.fcr & UART_FCR_TRIGGER_MASK) >> 6]!;
  }

  /** Line speed in bits per second (0 with a zero divisor). */
  get baudRate(): number {
    return this.state.divisor === 0 ? 0 : this.baudbase / this.state.divisor;
  }

  /** Whether the interrupt output is asserted. */
  get interruptAsserted(): boolean {
    return this.irqLevel;
  }

  /** A read of the I/O BAR. Wider accesses read consecutive registers, low byte first. */
  read(offset: number, size: 1 | 2 | 4): number {
    return this.#regs.read(offset, size);
  }

  /** A write of the I/O BAR. Wider accesses write consecutive registers, low byte first. */
  write(offset: number, value: number, size: 1 | 2 | 4): void {
    this.#regs.write(offset, value, size);
  }

  /** Return every register to its reset value and empty the FIFOs; lowers the interrupt. */
  reset(_kind: ResetKind = 'warm'): void {
    this.cancelTimeout();
    this.state = freshState();
    this.updateIrq();
    this.chardev?.acceptInput();
  }

  /** A deep copy of the state. */
  saveState(): Serial16550State {
    return { ...this.state, receiveFifo: [...this.state.receiveFifo] };
  }

  /** Replace the state with `state` and re-evaluate the interrupt and receive timeout. */
  restoreState(state: Serial16550State): void {
    validateSerialState(state);
    this.cancelTimeout();
    this.state = { ...state, receiveFifo: [...state.receiveFifo] };
    if (this.fifoEnabled && this.state.receiveFifo.length > 0) this.armTimeout();
    this.updateIrq();
    this.chardev?.acceptInput();
  }

  /** Disconnect the backend and stop timers (the backend itself is closed by its owner). */
  destroy(): void {
    this.cancelTimeout();
    this.setChardev(undefined);
  }

  // CharFrontend

  /** Room for input: up to the trigger level while below it, then one byte at a time (as QEMU). */
  canReceive(): number {
    if (this.state.mcr & UART_MCR_LOOP) return 0; // the line is disconnected in loopback
    if (this.fifoEnabled) {
      const count = this.state.receiveFifo.length;
      if (count >= SERIAL_FIFO_SIZE) return 0;
      return count <= this.triggerLevel ? Math.max(1, this.triggerLevel - count) : 1;
    }
    return this.state.lsr & UART_LSR_DR ? 0 : 1;
  }

  /** Bytes arriving on the line. */
  receive(data: Uint8Array): void {
    for (const byte of data) this.receiveByte(byte);
    this.updateIrq();
  }

  /** A break condition on the line: a NUL byte with BI. */
  receiveBreak(): void {
    this.state.rbr = 0;
    this.pushReceiveFifo(0);
    this.state.lsr |= UART_LSR_BI | UART_LSR_DR;
    this.updateIrq();
  }

  // Register behaviour (named helpers the register table calls).

  /** @internal */
  readReceiveBuffer(): number {
    if (this.dlab) return this.state.divisor & 0xff;
    let value: number;
    if (this.fifoEnabled) {
      value = this.state.receiveFifo.shift() ?? 0;
      if (this.state.receiveFifo.length === 0) {
        this.state.lsr &= ~(UART_LSR_DR | UART_LSR_BI);
        this.cancelTimeout();
      } else {
        this.armTimeout();
      }
      this.state.timeoutInterruptPending = false;
    } else {
      value = this.state.rbr;
      this.state.lsr &= ~(UART_LSR_DR | UART_LSR_BI);
    }
    this.updateIrq();
    if (!(this.state.mcr & UART_MCR_LOOP)) this.chardev?.acceptInput();
    return value;
  }

  /** @internal */
  writeTransmitHolding(value: number): void {
    if (this.dlab) {
      this.state.divisor = (this.state.divisor & 0xff00) | value;
      return;
    }
    // The byte leaves at once: THR (and the transmit FIFO) never hold it past this call.
    this.state.thrInterruptPending = false;
    this.state.lsr &= ~(UART_LSR_THRE | UART_LSR_TEMT);
    this.updateIrq();
    this.transmit(value);
    this.state.lsr |= UART_LSR_THRE | UART_LSR_TEMT;
    this.state.thrInterruptPending = true;
    this.updateIrq();
  }

  /** @internal */
  writeInterruptEnable(value: number): void {
    if (this.dlab) {
      this.state.divisor = (this.state.divisor & 0x00ff) | (value << 8);
      return;
    }
    if (value & 0xf0) {
      this.log.unimplemented?.({
        device: 'pci-serial',
        register: 'IER',
        offset: SerialRegister.IER,
        size: 1,
        value,
        message: 'IER bits 7:4 are reserved on a 16550A; ignored',
      });
    }
    this.state.ier = value & 0x0f;
    // Enabling THRI while THR is empty raises the interrupt at once, as on the real part.
    if (this.state.lsr & UART_LSR_THRE) this.state.thrInterruptPending = true;
    this.updateIrq();
  }

  /** @internal */
  readInterruptIdentification(): number {
    const value = this.iir;
    if ((value & 0x0f) === UART_IIR_THRI) {
      this.state.thrInterruptPending = false;
      this.updateIrq();
    }
    return value;
  }

  /** @internal */
  writeFifoControl(value: number): void {
    let fcr = value;
    // Enabling or disabling the FIFOs empties both.
    if ((fcr ^ this.state.fcr) & UART_FCR_ENABLE_FIFO) fcr |= UART_FCR_CLEAR_RCVR | UART_FCR_CLEAR_XMIT;
    if (fcr & UART_FCR_CLEAR_RCVR) {
      this.cancelTimeout();
      this.state.timeoutInterruptPending = false;
      this.state.receiveFifo = [];
      this.state.lsr &= ~(UART_LSR_DR | UART_LSR_BI);
    }
    // The transmit FIFO never holds bytes (transmission is immediate), so clearing it only
    // confirms THRE/TEMT.
    if (fcr & UART_FCR_CLEAR_XMIT) this.state.lsr |= UART_LSR_THRE | UART_LSR_TEMT;
    this.state.fcr = fcr & (UART_FCR_ENABLE_FIFO | UART_FCR_DMA_SELECT | UART_FCR_TRIGGER_MASK);
    this.updateIrq();
    this.chardev?.acceptInput();
  }

  /** @internal */
  writeLineControl(value: number): void {
    this.state.lcr = value;
  }

  /** @internal */
  writeModemControl(value: number): void {
    const wasLoop = (this.state.mcr & UART_MCR_LOOP) !== 0;
    if (value & 0xe0) {
      this.log.guestError({
        device: 'pci-serial',
        register: 'MCR',
        offset: SerialRegister.MCR,
        size: 1,
        value,
        message: 'MCR bits 7:5 are reserved; ignored',
      });
    }
    this.state.mcr = value & 0x1f;
    // Leaving loopback reconnects the line: deliver what the backend held back.
    if (wasLoop && !(this.state.mcr & UART_MCR_LOOP)) this.chardev?.acceptInput();
  }

  /** @internal */
  readLineStatus(): number {
    const value = this.state.lsr;
    if (value & (UART_LSR_BI | UART_LSR_OE)) {
      this.state.lsr &= ~(UART_LSR_BI | UART_LSR_OE);
      this.updateIrq();
    }
    return value;
  }

  /** @internal */
  readModemStatus(): number {
    const mcr = this.state.mcr;
    if (mcr & UART_MCR_LOOP) {
      // Loopback wires OUT2->DCD, OUT1->RI, RTS->CTS, DTR->DSR (no delta bits, as QEMU).
      return ((mcr & 0x0c) << 4) | ((mcr & UART_MCR_RTS) << 3) | ((mcr & UART_MCR_DTR) << 5);
    }
    const value = this.state.msr;
    if (value & UART_MSR_ANY_DELTA) {
      this.state.msr &= 0xf0;
      this.updateIrq();
    }
    return value;
  }

  private transmit(byte: number): void {
    if (this.state.mcr & UART_MCR_LOOP) {
      this.receive(Uint8Array.of(byte));
      return;
    }
    try {
      this.chardev?.write(Uint8Array.of(byte));
    } catch (cause) {
      // A failing backend loses the byte, as a disconnected line would; the UART carries on.
      this.log.guestError({
        device: 'pci-serial',
        register: 'THR',
        message: `backend write failed: ${String(cause)}`,
      });
    }
  }

  private receiveByte(byte: number): void {
    if (this.fifoEnabled) {
      this.pushReceiveFifo(byte);
      this.state.lsr |= UART_LSR_DR;
      this.armTimeout();
    } else {
      if (this.state.lsr & UART_LSR_DR) this.state.lsr |= UART_LSR_OE;
      this.state.rbr = byte;
      this.state.lsr |= UART_LSR_DR;
    }
  }

  private pushReceiveFifo(byte: number): void {
    // A receive overrun keeps the FIFO contents and drops the new byte.
    if (this.state.receiveFifo.length < SERIAL_FIFO_SIZE) this.state.receiveFifo.push(byte);
    else this.state.lsr |= UART_LSR_OE;
  }

  /**
   * Four character times after the last receive or read, flag a character timeout. Re-arming only
   * moves the deadline; the pending timer re-schedules itself when it fires early, so a byte
   * stream costs one timer, not one per byte.
   */
  private armTimeout(): void {
    const delay = 4 * this.characterTimeNs();
    this.timeoutDeadline = this.clock.now() + delay;
    if (this.timeoutTimer === undefined)
      this.timeoutTimer = this.clock.setTimer(delay, () => this.timeoutFired());
  }

  private timeoutFired(): void {
    this.timeoutTimer = undefined;
    const early = this.timeoutDeadline - this.clock.now();
    if (early > 0) {
      this.timeoutTimer = this.clock.setTimer(early, () => this.timeoutFired());
      return;
    }
    if (this.fifoEnabled && this.state.receiveFifo.length > 0) {
      this.state.timeoutInterruptPending = true;
      this.updateIrq();
    }
  }

  private cancelTimeout(): void {
    this.timeoutTimer?.cancel();
    this.timeoutTimer = undefined;
  }

  /** Time one character takes on the line: start + data + parity + stop bits at the baud rate. */
  private characterTimeNs(): number {
    const lcr = this.state.lcr;
    const bits = 1 + ((lcr & 0x03) + 5) + (lcr & 0x08 ? 1 : 0) + (lcr & 0x04 ? 2 : 1);
    const baud = this.baudRate === 0 ? this.baudbase / 12 : this.baudRate;
    return (1e9 / baud) * bits;
  }

  /** Recompute IIR from the pending conditions, by priority, and drive the interrupt line. */
  private updateIrq(): void {
    const { ier, lsr, msr } = this.state;
    let id = UART_IIR_NO_INT;
    if (ier & UART_IER_RLSI && lsr & UART_LSR_INT_ANY) {
      id = UART_IIR_RLSI;
    } else if (ier & UART_IER_RDI && this.state.timeoutInterruptPending) {
      id = UART_IIR_CTI;
    } else if (
      ier & UART_IER_RDI &&
      lsr & UART_LSR_DR &&
      (!this.fifoEnabled || this.state.receiveFifo.length >= this.triggerLevel)
    ) {
      id = UART_IIR_RDI;
    } else if (ier & UART_IER_THRI && this.state.thrInterruptPending) {
      id = UART_IIR_THRI;
    } else if (ier & UART_IER_MSI && msr & UART_MSR_ANY_DELTA) {
      id = UART_IIR_MSI;
    }
    this.iir = id | (this.fifoEnabled ? UART_IIR_FIFO_ENABLED : 0);
    const level = id !== UART_IIR_NO_INT;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq.setLevel(level);
    }
  }
}

function validateSerialState(state: Serial16550State): void {
  const u8 = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xff;
  const ok =
    typeof state === 'object' &&
    state !== null &&
    Number.isInteger(state.divisor) &&
    state.divisor >= 0 &&
    state.divisor <= 0xffff &&
    [state.rbr, state.ier, state.fcr, state.lcr, state.mcr, state.lsr, state.msr, state.scr].every(u8) &&
    Array.isArray(state.receiveFifo) &&
    state.receiveFifo.length <= SERIAL_FIFO_SIZE &&
    state.receiveFifo.every(u8) &&
    typeof state.thrInterruptPending === 'boolean' &&
    typeof state.timeoutInterruptPending === 'boolean';
  if (!ok) {
    throw new DeviceError('invalid-state', 'serial: malformed saved state', {
      deviceType: 'pci-serial',
      property: 'state',
    });
  }
}
