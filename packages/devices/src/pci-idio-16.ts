/**
 * ACCES I/O PCI-IDIO-16 (494f:0dc8) as a plain model: 16 optically isolated inputs, 16 FET
 * outputs and an input change interrupt, in byte registers at the start of BAR2 (I/O, 256
 * bytes), with the layout Linux's `gpio-pci-idio-16` driver (on `gpio-idio-16`) uses:
 *
 * | off | read                         | write                     |
 * |-----|------------------------------|---------------------------|
 * | 0   | FET outputs 0-7              | FET outputs 0-7           |
 * | 1   | isolated inputs 0-7          | clear interrupt           |
 * | 2   | enable IRQ (returns 0)       | disable IRQ               |
 * | 3   | activate input filters       | deactivate input filters  |
 * | 4   | FET outputs 8-15             | FET outputs 8-15          |
 * | 5   | isolated inputs 8-15         | (unused)                  |
 * | 6   | interrupt status             | (unused)                  |
 *
 * Interrupt status: bit 0 = a change on inputs 0-7, bit 1 = a change on inputs 8-15, bit 2 =
 * interrupt pending. Linux's older driver requires bit 2 and one of bits 0-1; the regmap driver
 * maps every input's interrupt to bit 2. Any change of an input (both edges) while the IRQ is
 * enabled latches the status and asserts INTx until the interrupt is cleared. Offsets 7-255 read
 * 0xff (nothing decodes them) and ignore writes.
 */

import { DeviceError } from './errors';
import {
  type DeviceLog,
  disconnectedInterruptLine,
  type InterruptLine,
  type ResetKind,
  silentDeviceLog,
} from './interfaces';
import { RegisterMap, type RegisterSpec } from './register-map';

/**
 * PCI identity of the PCI-IDIO-16. The driver matches vendor and device only; class, revision and
 * subsystem are 0, as in libvfio-user's sample of the same card.
 */
export const PCI_IDIO_16_PCI_IDS = Object.freeze({
  vendorId: 0x494f,
  deviceId: 0x0dc8,
  revision: 0x00,
  classCode: 0x000000,
  subsystemVendorId: 0x0000,
  subsystemId: 0x0000,
});

/** Index of the BAR holding the registers. */
export const PCI_IDIO_16_BAR = 2;
/** Size of BAR2 (I/O). */
export const PCI_IDIO_16_IO_SIZE = 256;

/** Register offsets within BAR2. */
export const PciIdio16Register = Object.freeze({
  Outputs0To7: 0,
  Inputs0To7: 1,
  ClearInterrupt: 1,
  IrqControl: 2,
  FilterControl: 3,
  Outputs8To15: 4,
  Inputs8To15: 5,
  InterruptStatus: 6,
});

/** Interrupt status: a change on inputs 0-7. */
export const IDIO_16_STATUS_INPUTS_LOW = 0x01;
/** Interrupt status: a change on inputs 8-15. */
export const IDIO_16_STATUS_INPUTS_HIGH = 0x02;
/** Interrupt status: interrupt pending. */
export const IDIO_16_STATUS_PENDING = 0x04;

/** Plain-data state of the card. */
export interface PciIdio16State {
  /** Levels of the 16 isolated inputs (bit n = input n). */
  inputs: number;
  /** Levels of the 16 FET outputs (bit n = output n). */
  outputs: number;
  /** Whether input change interrupts are enabled. */
  irqEnabled: boolean;
  /** Whether the input filters are active. */
  filtersActive: boolean;
  /** Latched interrupt status (bits 0-2). */
  interruptStatus: number;
}

/** What {@link PciIdio16} is given at construction. */
export interface PciIdio16Options {
  /** INTx pin A. */
  irq?: InterruptLine;
  /** Where guest errors go. */
  log?: DeviceLog;
  /** Input levels at power-on (bit n = input n; the `inputs=` property). */
  inputs?: number;
}

const IDIO_REGISTERS: readonly RegisterSpec<PciIdio16>[] = [
  {
    offset: 0,
    width: 1,
    name: 'out0_7',
    reset: 0x00,
    access: 'rw',
    description: 'FET drive outputs 0-7',
    read: (d) => d.state.outputs & 0xff,
    write: (d, v) => d.setOutputsFromGuest((d.state.outputs & 0xff00) | v),
  },
  {
    offset: 1,
    width: 1,
    name: 'in0_7',
    reset: 0x00,
    access: 'rw',
    description: 'read: isolated inputs 0-7; write: clear interrupt',
    read: (d) => d.state.inputs & 0xff,
    write: (d) => d.clearInterrupt(),
  },
  {
    offset: 2,
    width: 1,
    name: 'irq_ctl',
    reset: 0x00,
    access: 'rw',
    description: 'read: enable IRQ; write: disable IRQ',
    read: (d) => {
      d.state.irqEnabled = true;
      return 0;
    },
    write: (d) => {
      d.state.irqEnabled = false;
    },
  },
  {
    offset: 3,
    width: 1,
    name: 'filter_ctl',
    reset: 0x00,
    access: 'rw',
    description: 'read: activate input filters; write: deactivate input filters',
    read: (d) => {
      d.state.filtersActive = true;
      return 0;
    },
    write: (d) => {
      d.state.filtersActive = false;
    },
  },
  {
    offset: 4,
    width: 1,
    name: 'out8_15',
    reset: 0x00,
    access: 'rw',
    description: 'FET drive outputs 8-15',
    read: (d) => d.state.outputs >> 8,
    write: (d, v) => d.setOutputsFromGuest((d.state.outputs & 0x00ff) | (v << 8)),
  },
  {
    offset: 5,
    width: 1,
    name: 'in8_15',
    reset: 0x00,
    access: 'ro',
    description: 'isolated inputs 8-15',
    read: (d) => d.state.inputs >> 8,
  },
  {
    offset: 6,
    width: 1,
    name: 'irq_status',
    reset: 0x00,
    access: 'ro',
    description: 'bit 0 change on inputs 0-7, bit 1 change on inputs 8-15, bit 2 interrupt pending',
    read: (d) => d.state.interruptStatus,
  },
];

const IDIO_REGISTER_MAP = new RegisterMap<PciIdio16>(IDIO_REGISTERS);

/** The PCI-IDIO-16 core. Inputs are driven by the host ({@link setInputs}), outputs by the guest. */
export class PciIdio16 {
  /** The register table, for documentation and introspection. */
  static readonly registers = IDIO_REGISTER_MAP.registers;

  /** Live state. Mutate only through the device's methods. */
  state: PciIdio16State;

  private readonly irq: InterruptLine;
  private readonly log: DeviceLog;
  private readonly powerOnInputs: number;
  private readonly outputListeners = new Set<(outputs: number, previous: number) => void>();

  constructor(options: PciIdio16Options = {}) {
    this.irq = options.irq ?? disconnectedInterruptLine;
    this.log = options.log ?? silentDeviceLog;
    this.powerOnInputs = checkLevels('inputs', options.inputs ?? 0);
    this.state = this.freshState(this.powerOnInputs);
  }

  /** Current input levels (bit n = input n). */
  get inputs(): number {
    return this.state.inputs;
  }

  /** Current output levels (bit n = output n). */
  get outputs(): number {
    return this.state.outputs;
  }

  /**
   * Drive the isolated inputs (bit n = input n) from the host side, e.g. the server's monitor.
   * Lines that change raise the input change interrupt when the guest enabled it.
   * Throws a `DeviceError` (`invalid-argument`) for a value outside 0..0xffff.
   */
  setInputs(levels: number): void {
    const next = checkLevels('inputs', levels);
    const changed = this.state.inputs ^ next;
    this.state.inputs = next;
    if (changed !== 0) this.inputsChanged(changed);
  }

  /** Drive one input `line` (0-15) high (`true`) or low. */
  setInput(line: number, level: boolean): void {
    if (!Number.isInteger(line) || line < 0 || line > 15) {
      throw new DeviceError('invalid-argument', `pci-idio-16: input line ${line} is not in 0..15`, {
        deviceType: 'pci-idio-16',
        property: 'line',
        value: line,
      });
    }
    const bit = 1 << line;
    this.setInputs(level ? this.state.inputs | bit : this.state.inputs & ~bit);
  }

  /** Call `listener(outputs, previous)` whenever the guest changes the outputs; returns unsubscribe. */
  onOutputsChanged(listener: (outputs: number, previous: number) => void): () => void {
    this.outputListeners.add(listener);
    return () => this.outputListeners.delete(listener);
  }

  /** A read of BAR2. Wider accesses read consecutive registers, low byte first. */
  read(offset: number, size: 1 | 2 | 4): number {
    if (!this.checkAccess(offset, size)) return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffff_ffff;
    let value = 0;
    for (let i = 0; i < size; i++) {
      const reg = IDIO_REGISTER_MAP.at(offset + i);
      value |= (reg?.read === undefined ? 0xff : reg.read(this) & 0xff) << (8 * i);
    }
    return value >>> 0;
  }

  /** A write of BAR2. Wider accesses write consecutive registers, low byte first. */
  write(offset: number, value: number, size: 1 | 2 | 4): void {
    if (!this.checkAccess(offset, size, value)) return;
    for (let i = 0; i < size; i++) {
      const at = offset + i;
      const byte = (value >>> (8 * i)) & 0xff;
      const reg = IDIO_REGISTER_MAP.at(at);
      if (reg?.write !== undefined) {
        reg.write(this, byte);
      } else {
        this.log.guestError({
          device: 'pci-idio-16',
          message:
            reg === undefined ? 'write to an unused offset ignored' : 'write to a read-only register ignored',
          offset: at,
          size: 1,
          value: byte,
          ...(reg === undefined ? {} : { register: reg.name }),
        });
      }
    }
  }

  /**
   * Reset: outputs off, IRQ disabled, filters inactive, nothing pending. A cold reset also puts
   * the inputs back to their power-on levels; a warm reset leaves them (they are driven from
   * outside the card).
   */
  reset(kind: ResetKind = 'warm'): void {
    const previous = this.state.outputs;
    this.state = this.freshState(kind === 'cold' ? this.powerOnInputs : this.state.inputs);
    this.irq.setLevel(false);
    if (previous !== 0) this.notifyOutputs(previous);
  }

  /** A copy of the state. */
  saveState(): PciIdio16State {
    return { ...this.state };
  }

  /** Replace the state with `state` and drive the interrupt line to match. */
  restoreState(state: PciIdio16State): void {
    const u16 = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffff;
    if (
      typeof state !== 'object' ||
      state === null ||
      !u16(state.inputs) ||
      !u16(state.outputs) ||
      typeof state.irqEnabled !== 'boolean' ||
      typeof state.filtersActive !== 'boolean' ||
      !Number.isInteger(state.interruptStatus) ||
      (state.interruptStatus & ~0x07) !== 0
    ) {
      throw new DeviceError('invalid-state', 'pci-idio-16: malformed saved state', {
        deviceType: 'pci-idio-16',
        property: 'state',
      });
    }
    const previous = this.state.outputs;
    this.state = { ...state };
    this.irq.setLevel((this.state.interruptStatus & IDIO_16_STATUS_PENDING) !== 0);
    if (previous !== this.state.outputs) this.notifyOutputs(previous);
  }

  /** @internal The guest wrote an output register. */
  setOutputsFromGuest(outputs: number): void {
    const previous = this.state.outputs;
    this.state.outputs = outputs & 0xffff;
    if (previous !== this.state.outputs) this.notifyOutputs(previous);
  }

  /** @internal The guest cleared the interrupt. */
  clearInterrupt(): void {
    this.state.interruptStatus = 0;
    this.irq.setLevel(false);
  }

  private inputsChanged(changed: number): void {
    if (!this.state.irqEnabled) return;
    let status = IDIO_16_STATUS_PENDING;
    if (changed & 0x00ff) status |= IDIO_16_STATUS_INPUTS_LOW;
    if (changed & 0xff00) status |= IDIO_16_STATUS_INPUTS_HIGH;
    this.state.interruptStatus |= status;
    this.irq.setLevel(true);
  }

  private notifyOutputs(previous: number): void {
    for (const listener of this.outputListeners) {
      try {
        listener(this.state.outputs, previous);
      } catch {
        // A failing observer must not break the guest's register write.
      }
    }
  }

  private freshState(inputs: number): PciIdio16State {
    return { inputs, outputs: 0, irqEnabled: false, filtersActive: false, interruptStatus: 0 };
  }

  private checkAccess(offset: number, size: number, value?: number): boolean {
    if (Number.isInteger(offset) && offset >= 0 && offset + size <= PCI_IDIO_16_IO_SIZE) return true;
    this.log.guestError({
      device: 'pci-idio-16',
      message: 'access outside BAR2',
      offset,
      size,
      ...(value === undefined ? {} : { value }),
    });
    return false;
  }
}

function checkLevels(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) {
    throw new DeviceError(
      'invalid-argument',
      `pci-idio-16: ${name} 0x${value.toString(16)} is not a 16-bit value`,
      {
        deviceType: 'pci-idio-16',
        property: name,
        value,
      },
    );
  }
  return value;
}
