/**
 * QEMU's educational PCI device ("edu", 1234:11e8 rev 0x10) as a plain model.
 *
 * Register map and behaviour follow QEMU's `docs/specs/edu.rst` and what a Linux guest observes
 * of QEMU's own device (identification, liveness inversion, factorial with the computing and
 * interrupt-on-completion status bits, interrupt raise/acknowledge over INTx or MSI, and a DMA
 * engine moving data between bus addresses and a 4 KiB buffer at 0x40000).
 *
 * Access rules of BAR0 (1 MiB): only 4-byte accesses below 0x80; 4- or 8-byte accesses from 0x80
 * on. 4-byte accesses go through {@link Edu.read}/{@link Edu.write}, 8-byte ones through
 * {@link Edu.read64}/{@link Edu.write64}. Unknown offsets read all-ones and ignore writes.
 */

import { createHostClock } from './clock';
import { DeviceError } from './errors';
import {
  type DeviceClock,
  type DeviceLog,
  type DmaAccess,
  disconnectedInterruptLine,
  type InterruptLine,
  type MsiNotifier,
  noDma,
  noMsi,
  type ResetKind,
  silentDeviceLog,
  type TimerHandle,
} from './interfaces';
import { RegisterMap, type RegisterSpec } from './register-map';

/** PCI identity of edu (QEMU's values). */
export const EDU_PCI_IDS = Object.freeze({
  vendorId: 0x1234,
  deviceId: 0x11e8,
  revision: 0x10,
  classCode: 0x00ff00,
  subsystemVendorId: 0x1af4,
  subsystemId: 0x1100,
});

/** Size of BAR0 (1 MiB of MMIO). */
export const EDU_MMIO_SIZE = 0x10_0000;
/** Value of the identification register: major 1, minor 0, then 0xed. */
export const EDU_IDENTIFICATION = 0x010000ed;

/** Offsets of the edu registers in BAR0. */
export const EduRegister = Object.freeze({
  Identification: 0x00,
  Liveness: 0x04,
  Factorial: 0x08,
  Status: 0x20,
  InterruptStatus: 0x24,
  InterruptRaise: 0x60,
  InterruptAcknowledge: 0x64,
  DmaSource: 0x80,
  DmaDestination: 0x88,
  DmaCount: 0x90,
  DmaCommand: 0x98,
});

/** Status register (0x20): a factorial is being computed (read-only). */
export const EDU_STATUS_COMPUTING = 0x01;
/** Status register (0x20): raise interrupt 0x1 when the factorial completes. */
export const EDU_STATUS_IRQ_FACTORIAL = 0x80;
/** DMA command (0x98): start the transfer; reads back set until it completes. */
export const EDU_DMA_CMD_START = 0x1;
/** DMA command (0x98): direction, 0 = RAM to edu buffer, 1 = edu buffer to RAM. */
export const EDU_DMA_CMD_TO_RAM = 0x2;
/** DMA command (0x98): raise interrupt 0x100 when the transfer completes. */
export const EDU_DMA_CMD_IRQ = 0x4;
/** Interrupt status value raised when a factorial completes with the status bit 0x80 set. */
export const EDU_IRQ_FACTORIAL = 0x0000_0001;
/** Interrupt status value raised when a DMA transfer completes with command bit 0x4 set. */
export const EDU_IRQ_DMA = 0x0000_0100;
/** Bus-facing offset of the DMA buffer (as seen in the DMA source/destination registers). */
export const EDU_DMA_BUFFER_ADDRESS = 0x40000n;
/** Size of the DMA buffer. */
export const EDU_DMA_BUFFER_SIZE = 4096;
/** QEMU's default DMA mask: 28 bits (256 MiB). */
export const EDU_DEFAULT_DMA_MASK = (1n << 28n) - 1n;
/** QEMU completes a DMA transfer 100 ms (virtual) after the command. */
export const EDU_DEFAULT_DMA_DELAY_NS = 100_000_000;

/** The 64-bit DMA registers (0x80 on), each with the state field it holds. */
const DMA_QWORDS = [
  [EduRegister.DmaSource, 'dmaSource'],
  [EduRegister.DmaDestination, 'dmaDestination'],
  [EduRegister.DmaCount, 'dmaCount'],
  [EduRegister.DmaCommand, 'dmaCommand'],
] as const;
/** State field of a 64-bit DMA register. */
type DmaQwordField = (typeof DMA_QWORDS)[number][1];
/** The DMA parameters: every 64-bit DMA register but the command. */
type DmaParameterField = Exclude<DmaQwordField, 'dmaCommand'>;

const U32_MASK = 0xffff_ffffn;
const ALL_ONES_32 = 0xffff_ffff;
const ALL_ONES_64 = 0xffff_ffff_ffff_ffffn;
const FIRST_QWORD_OFFSET = 0x80;

/** Everything an edu remembers, as plain data (structured-clone safe) for save/restore. */
export interface EduState {
  /** Liveness register as it reads (the inverse of the last value written). */
  liveness: number;
  /** Factorial register: the operand while computing, then the result. */
  factorial: number;
  /** Status register (bit 0 computing, bit 7 interrupt on completion). */
  status: number;
  /** Interrupt status register. */
  interruptStatus: number;
  /** DMA source address. */
  dmaSource: bigint;
  /** DMA destination address. */
  dmaDestination: bigint;
  /** DMA transfer count. */
  dmaCount: bigint;
  /** DMA command (bit 0 set while a transfer is pending). */
  dmaCommand: bigint;
  /** The 4 KiB DMA buffer. */
  dmaBuffer: Uint8Array;
}

/** What {@link Edu} is given at construction. */
export interface EduOptions {
  /** INTx pin A, used while MSI is disabled. */
  irq?: InterruptLine;
  /** The MSI capability (one vector). */
  msi?: MsiNotifier;
  /** DMA through the device's bus-master address space. */
  dma?: DmaAccess;
  /** Time source for the factorial and DMA completion (default: the host's event loop). */
  clock?: DeviceClock;
  /** Where guest errors go. */
  log?: DeviceLog;
  /** Bus addresses are masked with this before DMA (QEMU property `dma_mask`; default 28 bits). */
  dmaMask?: bigint;
  /** Delay between a factorial write and its result (default 0: next event-loop turn). */
  factorialDelayNs?: number;
  /** Delay between the DMA command and the transfer (default 100 ms, as QEMU). */
  dmaDelayNs?: number;
  /**
   * Accept 4-byte accesses to the upper halves of the 64-bit DMA registers (0x84, 0x8c, 0x94) as
   * the high 32 bits. QEMU ignores them; set this when the bus splits 8-byte accesses into two
   * 4-byte halves (low first), so 64-bit DMA addresses stay programmable.
   */
  qwordHalves?: boolean;
}

const EDU_REGISTERS: readonly RegisterSpec<Edu>[] = [
  {
    offset: EduRegister.Identification,
    width: 4,
    name: 'identification',
    reset: EDU_IDENTIFICATION,
    access: 'ro',
    description: '0xRRrr00ed: major RR, minor rr',
    read: () => EDU_IDENTIFICATION,
  },
  {
    offset: EduRegister.Liveness,
    width: 4,
    name: 'liveness',
    reset: 0,
    access: 'rw',
    description: 'reads the bitwise inverse of the last value written',
    read: (d) => d.state.liveness,
    write: (d, v) => {
      d.state.liveness = ~v >>> 0;
    },
  },
  {
    offset: EduRegister.Factorial,
    width: 4,
    name: 'factorial',
    reset: 0,
    access: 'rw',
    description: 'write n to compute n! (mod 2^32); read the result once status bit 0 clears',
    read: (d) => d.state.factorial,
    write: (d, v) => d.startFactorial(v),
  },
  {
    offset: EduRegister.Status,
    width: 4,
    name: 'status',
    reset: 0,
    access: 'rw',
    description: 'bit 0 computing (read-only), bit 7 raise interrupt 0x1 when the factorial completes',
    read: (d) => d.state.status,
    write: (d, v) => {
      d.state.status = (d.state.status & EDU_STATUS_COMPUTING) | (v & EDU_STATUS_IRQ_FACTORIAL);
    },
  },
  {
    offset: EduRegister.InterruptStatus,
    width: 4,
    name: 'interrupt status',
    reset: 0,
    access: 'ro',
    description: 'the values that raised the interrupt, ORed',
    read: (d) => d.state.interruptStatus,
  },
  {
    offset: EduRegister.InterruptRaise,
    width: 4,
    name: 'interrupt raise',
    reset: ALL_ONES_32,
    access: 'wo',
    description: 'ORs the value into the interrupt status and raises the interrupt',
    write: (d, v) => d.raiseIrq(v),
  },
  {
    offset: EduRegister.InterruptAcknowledge,
    width: 4,
    name: 'interrupt acknowledge',
    reset: ALL_ONES_32,
    access: 'wo',
    description: 'clears the value from the interrupt status; the line drops at 0',
    write: (d, v) => d.lowerIrq(v),
  },
  {
    offset: EduRegister.DmaSource,
    width: 8,
    name: 'dma source',
    reset: 0n,
    access: 'rw',
    description: 'bus address the DMA reads from (0x40000.. for the buffer)',
    read: (d) => Number(d.state.dmaSource & U32_MASK),
    write: (d, v) => d.writeDmaRegister('dmaSource', BigInt(v >>> 0)),
  },
  {
    offset: EduRegister.DmaDestination,
    width: 8,
    name: 'dma destination',
    reset: 0n,
    access: 'rw',
    description: 'bus address the DMA writes to (0x40000.. for the buffer)',
    read: (d) => Number(d.state.dmaDestination & U32_MASK),
    write: (d, v) => d.writeDmaRegister('dmaDestination', BigInt(v >>> 0)),
  },
  {
    offset: EduRegister.DmaCount,
    width: 8,
    name: 'dma count',
    reset: 0n,
    access: 'rw',
    description: 'bytes to transfer',
    read: (d) => Number(d.state.dmaCount & U32_MASK),
    write: (d, v) => d.writeDmaRegister('dmaCount', BigInt(v >>> 0)),
  },
  {
    offset: EduRegister.DmaCommand,
    width: 8,
    name: 'dma command',
    reset: 0n,
    access: 'rw',
    description: 'bit 0 start (ignored without it), bit 1 direction (1 = to RAM), bit 2 interrupt 0x100',
    read: (d) => Number(d.state.dmaCommand & U32_MASK),
    write: (d, v) => d.startDma(BigInt(v >>> 0)),
  },
];

const EDU_REGISTER_MAP = new RegisterMap<Edu>(EDU_REGISTERS);

/** n! modulo 2^32, as QEMU's 32-bit loop computes it (0! = 1; every n >= 34 gives 0). */
export function eduFactorial(n: number): number {
  const operand = n >>> 0;
  // 34! holds 2^32 as a factor, so the 32-bit product is 0 from there on.
  if (operand >= 34) return 0;
  let result = 1;
  for (let k = operand; k > 1; k--) result = Math.imul(result, k) >>> 0;
  return result;
}

function freshState(): EduState {
  return {
    liveness: 0,
    factorial: 0,
    status: 0,
    interruptStatus: 0,
    dmaSource: 0n,
    dmaDestination: 0n,
    dmaCount: 0n,
    dmaCommand: 0n,
    dmaBuffer: new Uint8Array(EDU_DMA_BUFFER_SIZE),
  };
}

/** The edu device core: registers, factorial engine, interrupt controller and DMA engine. */
export class Edu {
  /** The register table (offset order), for documentation and introspection. */
  static readonly registers = EDU_REGISTER_MAP.registers;

  /** Live register state. Mutate only through the device's methods. */
  state: EduState = freshState();

  private readonly irqLine: InterruptLine;
  private readonly msi: MsiNotifier;
  private readonly dma: DmaAccess;
  private readonly clock: DeviceClock;
  private readonly log: DeviceLog;
  private readonly dmaMask: bigint;
  private readonly factorialDelayNs: number;
  private readonly dmaDelayNs: number;
  private readonly qwordHalves: boolean;
  private factorialTimer: TimerHandle | undefined;
  private dmaTimer: TimerHandle | undefined;
  private inFlightDma: Promise<void> | undefined;
  // Bumped by reset/restore so a DMA completing afterwards does not touch the new state.
  private generation = 0;

  constructor(options: EduOptions = {}) {
    this.irqLine = options.irq ?? disconnectedInterruptLine;
    this.msi = options.msi ?? noMsi;
    this.dma = options.dma ?? noDma;
    this.clock = options.clock ?? createHostClock();
    this.log = options.log ?? silentDeviceLog;
    this.dmaMask = options.dmaMask ?? EDU_DEFAULT_DMA_MASK;
    if (this.dmaMask < 0n || this.dmaMask > ALL_ONES_64) {
      throw new DeviceError(
        'invalid-property',
        `edu: dma_mask 0x${this.dmaMask.toString(16)} is not a 64-bit value`,
        {
          deviceType: 'edu',
          property: 'dma_mask',
          value: this.dmaMask,
        },
      );
    }
    this.factorialDelayNs = checkDelay('factorialDelayNs', options.factorialDelayNs ?? 0);
    this.dmaDelayNs = checkDelay('dmaDelayNs', options.dmaDelayNs ?? EDU_DEFAULT_DMA_DELAY_NS);
    this.qwordHalves = options.qwordHalves ?? false;
  }

  /** A 1-, 2- or 4-byte read of BAR0 at `offset`. Only 4-byte aligned reads reach registers. */
  read(offset: number, size: 1 | 2 | 4): number {
    if (!this.checkAccess(offset, size, false)) return size === 4 ? ALL_ONES_32 : 0;
    if (size !== 4) {
      // QEMU rejects accesses below 4 bytes before they reach the device: the guest reads 0.
      this.guestError('access size below 4 bytes rejected', offset, size);
      return 0;
    }
    const reg = EDU_REGISTER_MAP.at(offset);
    if (reg?.read !== undefined) return reg.read(this) >>> 0;
    if (this.qwordHalves) {
      const high = this.qwordHighHalf(offset);
      if (high !== undefined) return Number((this.state[high] >> 32n) & U32_MASK);
    }
    return ALL_ONES_32;
  }

  /** A 1-, 2- or 4-byte write of BAR0 at `offset`. Only 4-byte aligned writes reach registers. */
  write(offset: number, value: number, size: 1 | 2 | 4): void {
    if (!this.checkAccess(offset, size, true, value)) return;
    if (size !== 4) {
      this.guestError('access size below 4 bytes rejected', offset, size, value);
      return;
    }
    const reg = EDU_REGISTER_MAP.at(offset);
    if (reg?.write !== undefined) {
      reg.write(this, value >>> 0);
      return;
    }
    if (reg !== undefined) {
      this.guestError('write to a read-only register ignored', offset, size, value, reg.name);
      return;
    }
    const high = this.qwordHighHalf(offset);
    if (high !== undefined) {
      if (this.qwordHalves && high !== 'dmaCommand') {
        const low = this.state[high] & U32_MASK;
        this.writeDmaRegister(high, (BigInt(value >>> 0) << 32n) | low);
      }
      // QEMU ignores 4-byte writes to the upper halves of the 64-bit registers.
      return;
    }
    this.guestError('write to an unassigned offset ignored', offset, size, value);
  }

  /** An 8-byte read of BAR0 at `offset` (the DMA registers); elsewhere all-ones, as QEMU. */
  read64(offset: number): bigint {
    if (!this.checkAccess(offset, 8, false)) return ALL_ONES_64;
    if (offset < FIRST_QWORD_OFFSET) {
      this.guestError('8-byte access below 0x80 rejected', offset, 8);
      return ALL_ONES_64;
    }
    const field = qwordField(offset);
    return field === undefined ? ALL_ONES_64 : this.state[field];
  }

  /** An 8-byte write of BAR0 at `offset` (the DMA registers); ignored elsewhere, as QEMU. */
  write64(offset: number, value: bigint): void {
    const v = BigInt.asUintN(64, value);
    if (!this.checkAccess(offset, 8, true, v)) return;
    if (offset < FIRST_QWORD_OFFSET) {
      this.guestError('8-byte access below 0x80 ignored', offset, 8, v);
      return;
    }
    const field = qwordField(offset);
    if (field === undefined) {
      this.guestError('write to an unassigned offset ignored', offset, 8, v);
    } else if (field === 'dmaCommand') {
      this.startDma(v);
    } else {
      this.writeDmaRegister(field, v);
    }
  }

  /**
   * Return every register to its reset value, cancel the pending factorial and DMA (a transfer
   * already issued completes without touching the device), lower the interrupt line. A cold reset
   * also clears the DMA buffer.
   */
  reset(kind: ResetKind = 'warm'): void {
    this.stopTimers();
    const buffer = this.state.dmaBuffer;
    this.state = freshState();
    if (kind === 'warm') this.state.dmaBuffer = buffer;
    this.irqLine.setLevel(false);
  }

  /** A deep copy of the device state. */
  saveState(): EduState {
    return { ...this.state, dmaBuffer: this.state.dmaBuffer.slice() };
  }

  /**
   * Replace the device state with `state` (as {@link saveState} produced it). A factorial or DMA
   * that was pending when the state was saved is scheduled again; the interrupt line is driven
   * to match the restored interrupt status.
   */
  restoreState(state: EduState): void {
    validateEduState(state);
    this.stopTimers();
    this.state = { ...state, dmaBuffer: state.dmaBuffer.slice() };
    if (this.state.status & EDU_STATUS_COMPUTING) this.scheduleFactorial();
    if (this.state.dmaCommand & BigInt(EDU_DMA_CMD_START)) this.scheduleDma();
    if (!this.msi.isEnabled()) this.irqLine.setLevel(this.state.interruptStatus !== 0);
  }

  /** Resolves once no DMA transfer is in flight (for orderly teardown and tests). */
  async whenIdle(): Promise<void> {
    while (this.inFlightDma !== undefined) await this.inFlightDma;
  }

  /** Release timers; the device must not be used afterwards. */
  destroy(): void {
    this.stopTimers();
  }

  /** @internal Start computing `operand`! unless a computation is running. */
  startFactorial(operand: number): void {
    if (this.state.status & EDU_STATUS_COMPUTING) {
      this.guestError(
        'factorial written while computing; ignored',
        EduRegister.Factorial,
        4,
        operand,
        'factorial',
      );
      return;
    }
    this.state.factorial = operand >>> 0;
    this.state.status |= EDU_STATUS_COMPUTING;
    this.scheduleFactorial();
  }

  /** @internal OR `value` into the interrupt status and signal it (MSI when enabled, else INTx). */
  raiseIrq(value: number): void {
    this.state.interruptStatus = (this.state.interruptStatus | value) >>> 0;
    if (this.state.interruptStatus === 0) return;
    if (this.msi.isEnabled()) this.msi.notify(0);
    else this.irqLine.setLevel(true);
  }

  /** @internal Clear `value` from the interrupt status; drop INTx when nothing is left. */
  lowerIrq(value: number): void {
    this.state.interruptStatus = (this.state.interruptStatus & ~value) >>> 0;
    if (this.state.interruptStatus === 0 && !this.msi.isEnabled()) this.irqLine.setLevel(false);
  }

  /** @internal Write a DMA parameter register; ignored while a transfer is pending, as QEMU. */
  writeDmaRegister(field: DmaParameterField, value: bigint): void {
    if (this.state.dmaCommand & BigInt(EDU_DMA_CMD_START)) {
      this.guestError(
        'DMA register written while a transfer is pending; ignored',
        qwordOffset(field),
        4,
        value,
      );
      return;
    }
    this.state[field] = value;
  }

  /** @internal Handle a DMA command write: start a transfer when bit 0 is set and none is pending. */
  startDma(command: bigint): void {
    if (!(command & BigInt(EDU_DMA_CMD_START))) return; // QEMU ignores commands without START.
    if (this.state.dmaCommand & BigInt(EDU_DMA_CMD_START)) {
      this.guestError(
        'DMA command written while a transfer is pending; ignored',
        EduRegister.DmaCommand,
        4,
        command,
      );
      return;
    }
    this.state.dmaCommand = command;
    this.scheduleDma();
  }

  private scheduleFactorial(): void {
    this.factorialTimer?.cancel();
    this.factorialTimer = this.clock.setTimer(this.factorialDelayNs, () => this.completeFactorial());
  }

  private completeFactorial(): void {
    this.factorialTimer = undefined;
    this.state.factorial = eduFactorial(this.state.factorial);
    this.state.status &= ~EDU_STATUS_COMPUTING;
    if (this.state.status & EDU_STATUS_IRQ_FACTORIAL) this.raiseIrq(EDU_IRQ_FACTORIAL);
  }

  private scheduleDma(): void {
    this.dmaTimer?.cancel();
    this.dmaTimer = this.clock.setTimer(this.dmaDelayNs, () => {
      this.dmaTimer = undefined;
      const run = this.runDma().finally(() => {
        if (this.inFlightDma === run) this.inFlightDma = undefined;
      });
      this.inFlightDma = run;
    });
  }

  /** The transfer itself: check the buffer range, clamp the bus address, move the bytes. */
  private async runDma(): Promise<void> {
    const generation = this.generation;
    const { dmaCommand: command, dmaCount: count } = this.state;
    const toRam = (command & BigInt(EDU_DMA_CMD_TO_RAM)) !== 0n;
    const bufferAddress = toRam ? this.state.dmaSource : this.state.dmaDestination;
    const busAddress = toRam ? this.state.dmaDestination : this.state.dmaSource;
    const bufferOffset = this.bufferOffsetFor(bufferAddress, count);
    if (bufferOffset !== undefined && count > 0n) {
      const length = Number(count);
      const address = this.clampAddress(busAddress);
      try {
        if (toRam) {
          const data = this.state.dmaBuffer.slice(bufferOffset, bufferOffset + length);
          const result = await this.dma.write(address, data);
          if (result !== 'ok') this.dmaError('write to', address, length, result);
        } else {
          const data = new Uint8Array(length);
          const result = await this.dma.read(address, data);
          if (generation !== this.generation) return;
          // A failed bus read returns zeros (QEMU's unassigned memory), as the buffer then shows.
          if (result !== 'ok') {
            data.fill(0);
            this.dmaError('read from', address, length, result);
          }
          this.state.dmaBuffer.set(data, bufferOffset);
        }
      } catch (cause) {
        // A DMA implementation must not throw, but a device must never throw out either.
        this.log.guestError({
          device: 'edu',
          message: `DMA failed: ${String(cause)}`,
          register: 'dma command',
        });
      }
    }
    if (generation !== this.generation) return;
    this.state.dmaCommand &= ~BigInt(EDU_DMA_CMD_START);
    if (command & BigInt(EDU_DMA_CMD_IRQ)) this.raiseIrq(EDU_IRQ_DMA);
  }

  /** Offset into the buffer for a transfer of `count` bytes at `address`, or undefined (logged). */
  private bufferOffsetFor(address: bigint, count: bigint): number | undefined {
    const end = address + count;
    const bufferEnd = EDU_DMA_BUFFER_ADDRESS + BigInt(EDU_DMA_BUFFER_SIZE);
    if (address >= EDU_DMA_BUFFER_ADDRESS && end <= bufferEnd && end <= ALL_ONES_64) {
      return Number(address - EDU_DMA_BUFFER_ADDRESS);
    }
    this.log.guestError({
      device: 'edu',
      register: 'dma command',
      message:
        `DMA range 0x${address.toString(16)}-0x${(end - 1n).toString(16)} out of the buffer ` +
        `0x${EDU_DMA_BUFFER_ADDRESS.toString(16)}-0x${(bufferEnd - 1n).toString(16)}; transfer skipped`,
    });
    return undefined;
  }

  private clampAddress(address: bigint): bigint {
    const clamped = address & this.dmaMask;
    if (clamped !== address) {
      this.log.guestError({
        device: 'edu',
        register: 'dma command',
        message: `clamping DMA address 0x${address.toString(16)} to 0x${clamped.toString(16)} (dma_mask)`,
      });
    }
    return clamped;
  }

  private dmaError(verb: string, address: bigint, length: number, result: string): void {
    this.log.guestError({
      device: 'edu',
      register: 'dma command',
      message: `DMA ${verb} 0x${address.toString(16)} (+0x${length.toString(16)}) failed: ${result}`,
    });
  }

  private stopTimers(): void {
    this.generation++;
    this.factorialTimer?.cancel();
    this.factorialTimer = undefined;
    this.dmaTimer?.cancel();
    this.dmaTimer = undefined;
  }

  private checkAccess(offset: number, size: number, isWrite: boolean, value?: number | bigint): boolean {
    if (!Number.isInteger(offset) || offset < 0 || offset + size > EDU_MMIO_SIZE) {
      this.guestError('access outside BAR0', offset, size, isWrite ? value : undefined);
      return false;
    }
    if (offset % size !== 0) {
      this.guestError('unaligned access rejected', offset, size, isWrite ? value : undefined);
      return false;
    }
    return true;
  }

  private qwordHighHalf(offset: number): DmaQwordField | undefined {
    return offset % 8 === 4 ? qwordField(offset - 4) : undefined;
  }

  private guestError(
    message: string,
    offset: number,
    size: number,
    value?: number | bigint,
    register?: string,
  ): void {
    const name = register ?? EDU_REGISTER_MAP.at(offset)?.name;
    this.log.guestError({
      device: 'edu',
      message,
      offset,
      size,
      ...(name === undefined ? {} : { register: name }),
      ...(value === undefined ? {} : { value }),
    });
  }
}

function qwordField(offset: number): DmaQwordField | undefined {
  return DMA_QWORDS.find(([at]) => at === offset)?.[1];
}

function qwordOffset(field: DmaQwordField): number {
  // Every field is in the table: the type admits no other.
  return DMA_QWORDS.find(([, f]) => f === field)![0];
}

function checkDelay(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new DeviceError('invalid-property', `edu: ${name} must be a finite number >= 0, got ${value}`, {
      deviceType: 'edu',
      property: name,
      value,
    });
  }
  return value;
}

function validateEduState(state: EduState): void {
  const u32 = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= ALL_ONES_32;
  const u64 = (v: unknown) => typeof v === 'bigint' && v >= 0n && v <= ALL_ONES_64;
  const ok =
    typeof state === 'object' &&
    state !== null &&
    u32(state.liveness) &&
    u32(state.factorial) &&
    u32(state.status) &&
    (state.status & ~(EDU_STATUS_COMPUTING | EDU_STATUS_IRQ_FACTORIAL)) === 0 &&
    u32(state.interruptStatus) &&
    u64(state.dmaSource) &&
    u64(state.dmaDestination) &&
    u64(state.dmaCount) &&
    u64(state.dmaCommand) &&
    state.dmaBuffer instanceof Uint8Array &&
    state.dmaBuffer.length === EDU_DMA_BUFFER_SIZE;
  if (!ok) {
    throw new DeviceError('invalid-state', 'edu: malformed saved state', {
      deviceType: 'edu',
      property: 'state',
    });
  }
}
