/**
 * QEMU's educational PCI device ("edu", 1234:11e8 rev 0x10), core and PCI definition in one file.
 *
 * Register map and behaviour follow QEMU's `docs/specs/edu.rst` and `hw/misc/edu.c`:
 * identification, liveness inversion, factorial with the computing and interrupt-on-completion
 * status bits, interrupt raise/acknowledge over INTx or MSI, and a DMA engine moving data between
 * bus addresses and a 4 KiB buffer at 0x40000. BAR0 (1 MiB) takes 4-byte accesses below 0x80 and
 * 4- or 8-byte ones from 0x80 on; unknown offsets read all-ones and ignore writes.
 */

import { hex } from '@vfu/errors';
import { type PropertyValues, prop } from '@vfu/pci';
import { defineVmState, vm } from '@vfu/vmstate';
import type { DeviceContext } from './api/context';
import { defineDevice } from './api/define-device';
import { type RegisterBank, type RegisterValues, registerTable } from './api/register-bank';
import { deviceState } from './api/state';
import { DeviceError } from './errors';
import type { ResetKind, TimerHandle } from './interfaces';

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

const ALL_ONES_32 = 0xffff_ffff;
const ALL_ONES_64 = 0xffff_ffff_ffff_ffffn;
const START = BigInt(EDU_DMA_CMD_START);

/** Properties of `-device edu`. */
export const eduProperties = {
  dma_mask: prop.uint64({
    default: EDU_DEFAULT_DMA_MASK,
    description: 'DMA address mask (default 28 bits, as QEMU)',
  }),
  'x-dma-delay-ns': prop.uint32({
    default: EDU_DEFAULT_DMA_DELAY_NS,
    description: 'time from the DMA command to the transfer, in ns (QEMU: 100 ms)',
  }),
  'x-factorial-delay-ns': prop.uint32({
    default: 0,
    description: 'time from the factorial write to the result, in ns (0 = next event-loop turn)',
  }),
} as const;

/** Property values of an edu. */
export type EduProperties = PropertyValues<typeof eduProperties>;

/** Everything an edu remembers, as plain data (structured-clone safe) for save/restore. */
export interface EduState {
  /** Register values by name (the table's names). */
  registers: RegisterValues;
  /** The 4 KiB DMA buffer. */
  dmaBuffer: Uint8Array;
}

const REGISTERS = registerTable<Edu>(
  {
    size: EDU_MMIO_SIZE,
    minAccess: 4,
    maxAccess: 8,
    accepts: (offset, size) => size === 4 || offset >= 0x80,
    unassigned: 'ones',
    subword: 'start',
  },
  (r) => [
    r.u32(EduRegister.Identification, 'identification', {
      access: 'ro',
      reset: EDU_IDENTIFICATION,
      doc: '0xRRrr00ed: major RR, minor rr',
    }),
    r.u32(EduRegister.Liveness, 'liveness', {
      doc: 'reads the bitwise inverse of the last value written',
      write: (d, v) => d.regs.set('liveness', ~v),
    }),
    r.u32(EduRegister.Factorial, 'factorial', {
      doc: 'write n to compute n! (mod 2^32); read the result once status bit 0 clears',
      write: (d, v) => d.startFactorial(v),
    }),
    r.u32(EduRegister.Status, 'status', {
      mask: EDU_STATUS_IRQ_FACTORIAL,
      doc: 'bit 0 computing (read-only), bit 7 raise interrupt 0x1 when the factorial completes',
    }),
    r.u32(EduRegister.InterruptStatus, 'interrupt status', {
      access: 'ro',
      doc: 'the values that raised the interrupt, ORed',
    }),
    r.u32(EduRegister.InterruptRaise, 'interrupt raise', {
      access: 'wo',
      reset: ALL_ONES_32,
      doc: 'ORs the value into the interrupt status and raises the interrupt',
      write: (d, v) => d.raiseIrq(v),
    }),
    r.u32(EduRegister.InterruptAcknowledge, 'interrupt acknowledge', {
      access: 'wo',
      reset: ALL_ONES_32,
      doc: 'clears the value from the interrupt status; the line drops at 0',
      write: (d, v) => d.lowerIrq(v),
    }),
    r.u64(EduRegister.DmaSource, 'dma source', {
      doc: 'bus address the DMA reads from (0x40000.. for the buffer)',
      write: (d, v) => d.writeDmaParameter('dma source', v),
    }),
    r.u64(EduRegister.DmaDestination, 'dma destination', {
      doc: 'bus address the DMA writes to (0x40000.. for the buffer)',
      write: (d, v) => d.writeDmaParameter('dma destination', v),
    }),
    r.u64(EduRegister.DmaCount, 'dma count', {
      doc: 'bytes to transfer',
      write: (d, v) => d.writeDmaParameter('dma count', v),
    }),
    r.u64(EduRegister.DmaCommand, 'dma command', {
      doc: 'bit 0 start (ignored without it), bit 1 direction (1 = to RAM), bit 2 interrupt 0x100',
      write: (d, v) => d.startDma(v),
    }),
  ],
);

/** n! modulo 2^32, as QEMU's 32-bit loop computes it (0! = 1; every n >= 34 gives 0). */
export function eduFactorial(n: number): number {
  const operand = n >>> 0;
  // 34! holds 2^32 as a factor, so the 32-bit product is 0 from there on.
  if (operand >= 34) return 0;
  let result = 1;
  for (let k = operand; k > 1; k--) result = Math.imul(result, k) >>> 0;
  return result;
}

/** The edu device core: registers, factorial engine, interrupt controller and DMA engine. */
export class Edu {
  /** The register table (offset order), for documentation and introspection. */
  static readonly registers = REGISTERS.registers;

  /** BAR0: the register bank. */
  readonly regs: RegisterBank<Edu>;
  /** The 4 KiB DMA buffer. */
  dmaBuffer = new Uint8Array(EDU_DMA_BUFFER_SIZE);
  readonly #ctx: DeviceContext<EduProperties>;
  #factorialTimer: TimerHandle | undefined;
  #dmaTimer: TimerHandle | undefined;
  #inFlightDma: Promise<void> | undefined;
  // Bumped by reset/restore so a DMA completing afterwards does not touch the new state.
  #generation = 0;

  constructor(ctx: DeviceContext<EduProperties>) {
    this.#ctx = ctx;
    this.regs = REGISTERS.bind(this, { log: ctx.log, deviceName: 'edu' });
  }

  /** A 4-byte (or narrower, refused) guest read of BAR0 at `offset`. */
  read(offset: number, size: 1 | 2 | 4): number {
    return this.regs.read(offset, size);
  }

  /** A 4-byte (or narrower, refused) guest write of BAR0 at `offset`. */
  write(offset: number, value: number, size: 1 | 2 | 4): void {
    this.regs.write(offset, value, size);
  }

  /** An 8-byte guest read of BAR0 at `offset` (the DMA registers; all-ones elsewhere from 0x80). */
  read64(offset: number): bigint {
    return this.regs.read64(offset);
  }

  /** An 8-byte guest write of BAR0 at `offset`. */
  write64(offset: number, value: bigint): void {
    this.regs.write64(offset, value);
  }

  /**
   * Every register back to its reset value, the pending factorial and DMA cancelled (a transfer
   * already issued completes without touching the device), the interrupt line lowered. A cold
   * reset also clears the DMA buffer.
   */
  reset(kind: ResetKind = 'warm'): void {
    this.#stopTimers();
    this.regs.reset();
    if (kind === 'cold') this.dmaBuffer = new Uint8Array(EDU_DMA_BUFFER_SIZE);
    this.#ctx.irq.intx.setLevel(false);
  }

  /** A deep copy of the device state. */
  saveState(): EduState {
    return { registers: this.regs.save(), dmaBuffer: this.dmaBuffer.slice() };
  }

  /**
   * Replaces the state with a saved one after checking all of it (nothing is applied when a field
   * is bad). A pending factorial or DMA is scheduled again; INTx follows the interrupt status.
   */
  restoreState(state: unknown): void {
    const s = state as Partial<EduState> | null;
    const buffer = s?.dmaBuffer;
    const bad = (property: string, why: string, value?: unknown) =>
      new DeviceError('invalid-state', `edu: saved ${property} ${why}`, {
        deviceType: 'edu',
        property,
        value,
      });
    if (!(buffer instanceof Uint8Array) || buffer.length !== EDU_DMA_BUFFER_SIZE)
      throw bad('dmaBuffer', 'is not 4096 bytes');
    const status = (s?.registers as Record<string, unknown> | undefined)?.status;
    if (typeof status === 'number' && (status & ~(EDU_STATUS_COMPUTING | EDU_STATUS_IRQ_FACTORIAL)) !== 0) {
      throw bad('status', 'has undefined bits', status);
    }
    this.#stopTimers();
    this.regs.load(s?.registers);
    this.dmaBuffer = buffer.slice();
    if (this.regs.u32('status') & EDU_STATUS_COMPUTING) this.#scheduleFactorial();
    if (this.regs.u64('dma command') & START) this.#scheduleDma();
    if (!this.#ctx.irq.msi.isEnabled()) this.#ctx.irq.intx.setLevel(this.regs.u32('interrupt status') !== 0);
  }

  /** Resolves once no DMA transfer is in flight (for orderly teardown and tests). */
  async whenIdle(): Promise<void> {
    while (this.#inFlightDma !== undefined) await this.#inFlightDma;
  }

  /** @internal Start computing `operand`! unless a computation is running. */
  startFactorial(operand: number): void {
    if (this.regs.u32('status') & EDU_STATUS_COMPUTING) {
      this.regs.guestError('factorial written while computing; ignored', EduRegister.Factorial, 4, operand);
      return;
    }
    this.regs.set('factorial', operand);
    this.regs.set('status', this.regs.u32('status') | EDU_STATUS_COMPUTING);
    this.#scheduleFactorial();
  }

  /** @internal OR `value` into the interrupt status and signal it (MSI when enabled, else INTx). */
  raiseIrq(value: number): void {
    const status = (this.regs.u32('interrupt status') | value) >>> 0;
    this.regs.set('interrupt status', status);
    if (status === 0) return;
    if (this.#ctx.irq.msi.isEnabled()) this.#ctx.irq.msi.notify(0);
    else this.#ctx.irq.intx.setLevel(true);
  }

  /** @internal Clear `value` from the interrupt status; drop INTx when nothing is left. */
  lowerIrq(value: number): void {
    const status = (this.regs.u32('interrupt status') & ~value) >>> 0;
    this.regs.set('interrupt status', status);
    if (status === 0 && !this.#ctx.irq.msi.isEnabled()) this.#ctx.irq.intx.setLevel(false);
  }

  /** @internal Write a DMA parameter register; ignored while a transfer is pending, as QEMU. */
  writeDmaParameter(name: 'dma source' | 'dma destination' | 'dma count', value: bigint): void {
    if (this.regs.u64('dma command') & START) {
      const offset = REGISTERS.named(name).offset;
      this.regs.guestError('DMA register written while a transfer is pending; ignored', offset, 8, value);
      return;
    }
    this.regs.set(name, value);
  }

  /** @internal A DMA command write: start a transfer when bit 0 is set and none is pending. */
  startDma(command: bigint): void {
    if (!(command & START)) return; // QEMU ignores commands without START.
    if (this.regs.u64('dma command') & START) {
      this.regs.guestError(
        'DMA command written while a transfer is pending; ignored',
        EduRegister.DmaCommand,
        8,
        command,
      );
      return;
    }
    this.regs.set('dma command', command);
    this.#scheduleDma();
  }

  #scheduleFactorial(): void {
    this.#factorialTimer?.cancel();
    this.#factorialTimer = this.#ctx.clock.setTimer(this.#ctx.props['x-factorial-delay-ns'], () => {
      this.#factorialTimer = undefined;
      this.regs.set('factorial', eduFactorial(this.regs.u32('factorial')));
      const status = this.regs.u32('status') & ~EDU_STATUS_COMPUTING;
      this.regs.set('status', status);
      if (status & EDU_STATUS_IRQ_FACTORIAL) this.raiseIrq(EDU_IRQ_FACTORIAL);
    });
  }

  #scheduleDma(): void {
    this.#dmaTimer?.cancel();
    this.#dmaTimer = this.#ctx.clock.setTimer(this.#ctx.props['x-dma-delay-ns'], () => {
      this.#dmaTimer = undefined;
      const run = this.#runDma().finally(() => {
        if (this.#inFlightDma === run) this.#inFlightDma = undefined;
      });
      this.#inFlightDma = run;
    });
  }

  /** The transfer itself: check the buffer range, clamp the bus address, move the bytes. */
  async #runDma(): Promise<void> {
    const generation = this.#generation;
    const command = this.regs.u64('dma command');
    const count = this.regs.u64('dma count');
    const toRam = (command & BigInt(EDU_DMA_CMD_TO_RAM)) !== 0n;
    const source = this.regs.u64('dma source');
    const destination = this.regs.u64('dma destination');
    const bufferOffset = this.#bufferOffsetFor(toRam ? source : destination, count);
    if (bufferOffset !== undefined && count > 0n) {
      const length = Number(count);
      const address = this.#clampAddress(toRam ? destination : source);
      try {
        if (toRam) {
          const data = this.dmaBuffer.slice(bufferOffset, bufferOffset + length);
          const result = await this.#ctx.dma.write(address, data);
          if (result !== 'ok')
            this.#dmaError(`DMA write to ${hex(address)} (+${hex(length)}) failed: ${result}`);
        } else {
          const data = new Uint8Array(length);
          const result = await this.#ctx.dma.read(address, data);
          if (generation !== this.#generation) return;
          // A failed bus read returns zeros (QEMU's unassigned memory), as the buffer then shows.
          if (result !== 'ok') {
            data.fill(0);
            this.#dmaError(`DMA read from ${hex(address)} (+${hex(length)}) failed: ${result}`);
          }
          this.dmaBuffer.set(data, bufferOffset);
        }
      } catch (cause) {
        // A DMA implementation must not throw, but a device must never throw out either.
        this.#dmaError(`DMA failed: ${String(cause)}`);
      }
    }
    if (generation !== this.#generation) return;
    this.regs.set('dma command', this.regs.u64('dma command') & ~START);
    if (command & BigInt(EDU_DMA_CMD_IRQ)) this.raiseIrq(EDU_IRQ_DMA);
  }

  /** Offset into the buffer for a transfer of `count` bytes at `address`, or undefined (logged). */
  #bufferOffsetFor(address: bigint, count: bigint): number | undefined {
    const end = address + count;
    const bufferEnd = EDU_DMA_BUFFER_ADDRESS + BigInt(EDU_DMA_BUFFER_SIZE);
    if (address >= EDU_DMA_BUFFER_ADDRESS && end <= bufferEnd && end <= ALL_ONES_64) {
      return Number(address - EDU_DMA_BUFFER_ADDRESS);
    }
    this.#dmaError(
      `DMA range ${hex(address)}-${hex(end - 1n)} out of the buffer ` +
        `${hex(EDU_DMA_BUFFER_ADDRESS)}-${hex(bufferEnd - 1n)}; transfer skipped`,
    );
    return undefined;
  }

  #clampAddress(address: bigint): bigint {
    const clamped = address & this.#ctx.props.dma_mask;
    if (clamped !== address)
      this.#dmaError(`clamping DMA address ${hex(address)} to ${hex(clamped)} (dma_mask)`);
    return clamped;
  }

  #dmaError(message: string): void {
    this.#ctx.guestError({ register: 'dma command', message });
  }

  #stopTimers(): void {
    this.#generation++;
    this.#factorialTimer?.cancel();
    this.#factorialTimer = undefined;
    this.#dmaTimer?.cancel();
    this.#dmaTimer = undefined;
  }
}

/** edu's own state: every register (a factorial or DMA in progress resumes from them) and the DMA buffer. */
export const eduVmState = defineVmState({
  name: 'edu',
  version: 1,
  fields: {
    registers: REGISTERS.stateField(),
    dmaBuffer: vm.bytes({ maxLength: EDU_DMA_BUFFER_SIZE, length: EDU_DMA_BUFFER_SIZE }),
  },
  validate: (v) =>
    ((v.registers.status as number) & ~(EDU_STATUS_COMPUTING | EDU_STATUS_IRQ_FACTORIAL)) !== 0
      ? `registers.status: undefined bits set (${v.registers.status})`
      : undefined,
});

/**
 * `-device edu`: 1234:11e8 rev 0x10, class 0x00ff00, BAR0 1 MiB 32-bit MMIO, INTx pin A and a
 * 64-bit single-vector MSI capability at 0x40, DMA through the bus-master address space.
 */
export const eduDevice = defineDevice({
  name: 'edu',
  description: 'QEMU educational PCI device (1234:11e8)',
  identity: { ...EDU_PCI_IDS, interruptPin: 1 },
  properties: eduProperties,
  create: (ctx) => new Edu(ctx),
  bars: (edu) => [{ index: 0, kind: 'mem32', registers: edu.regs }],
  capabilities: { msi: { vectors: 1, address64: true, perVectorMask: false } },
  unrealize: (edu) => edu.reset('cold'),
  reset: (edu, kind) => edu.reset(kind),
  state: deviceState({
    schema: eduVmState,
    save: (edu: Edu) => edu.saveState(),
    load: (edu: Edu, v) =>
      edu.restoreState({ registers: v.registers as RegisterValues, dmaBuffer: v.dmaBuffer }),
  }),
});
