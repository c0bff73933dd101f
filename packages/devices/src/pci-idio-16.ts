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

import { prop } from '@vfu/pci';
import { defineVmState, vm } from '@vfu/vmstate';
import { defineDevice } from './api/define-device';
import { type RegisterBank, registerTable } from './api/register-bank';
import { deviceState } from './api/state';
import { DeviceError } from './errors';
import {
  type DeviceLog,
  disconnectedInterruptLine,
  type InterruptLine,
  type ResetKind,
  silentDeviceLog,
} from './interfaces';

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

const IDIO_REGISTERS = registerTable<PciIdio16>(
  { size: PCI_IDIO_16_IO_SIZE, maxAccess: 8, unassigned: 'ones' },
  (r) => [
    r.u8(0, 'out0_7', {
      doc: 'FET drive outputs 0-7',
      read: (d) => d.state.outputs & 0xff,
      write: (d, v) => d.setOutputsFromGuest((d.state.outputs & 0xff00) | v),
    }),
    r.u8(1, 'in0_7', {
      doc: 'read: isolated inputs 0-7; write: clear interrupt',
      read: (d) => d.state.inputs & 0xff,
      write: (d) => d.clearInterrupt(),
    }),
    r.u8(2, 'irq_ctl', {
      doc: 'read: enable IRQ; write: disable IRQ',
      read: (d) => {
        d.state.irqEnabled = true;
        return 0;
      },
      write: (d) => {
        d.state.irqEnabled = false;
      },
    }),
    r.u8(3, 'filter_ctl', {
      doc: 'read: activate input filters; write: deactivate input filters',
      read: (d) => {
        d.state.filtersActive = true;
        return 0;
      },
      write: (d) => {
        d.state.filtersActive = false;
      },
    }),
    r.u8(4, 'out8_15', {
      doc: 'FET drive outputs 8-15',
      read: (d) => d.state.outputs >> 8,
      write: (d, v) => d.setOutputsFromGuest((d.state.outputs & 0x00ff) | (v << 8)),
    }),
    r.u8(5, 'in8_15', { access: 'ro', doc: 'isolated inputs 8-15', read: (d) => d.state.inputs >> 8 }),
    r.u8(6, 'irq_status', {
      access: 'ro',
      doc: 'bit 0 change on inputs 0-7, bit 1 change on inputs 8-15, bit 2 interrupt pending',
      read: (d) => d.state.interruptStatus,
    }),
  ],
);

/** The card's state: input and output levels, interrupt enable, filters, latched status. */
export const pciIdio16VmState = defineVmState({
  name: 'pci-idio-16',
  version: 1,
  fields: {
    inputs: vm.u16(),
    outputs: vm.u16(),
    irqEnabled: vm.bool(),
    filtersActive: vm.bool(),
    interruptStatus: vm.u8({
      check: (v: number) => ((v & ~0x07) !== 0 ? `undefined bits set (${v})` : undefined),
    }),
  },
});

/** The PCI-IDIO-16 core. Inputs are driven by the host ({@link setInputs}), outputs by the guest. */
export class PciIdio16 {
  /** The register table, for documentation and introspection. */
  static readonly registers = IDIO_REGISTERS.registers;

  /** Live state. Mutate only through the device's methods. */
  state: PciIdio16State;

  private readonly irq: InterruptLine;
  private readonly log: DeviceLog;
  private readonly powerOnInputs: number;
  private readonly outputListeners = new Set<(outputs: number, previous: number) => void>();
  readonly #regs: RegisterBank<PciIdio16>;

  constructor(options: PciIdio16Options = {}) {
    this.irq = options.irq ?? disconnectedInterruptLine;
    this.log = options.log ?? silentDeviceLog;
    this.powerOnInputs = checkLevels('inputs', options.inputs ?? 0);
    this.state = this.freshState(this.powerOnInputs);
    this.#regs = IDIO_REGISTERS.bind(this, { log: this.log, deviceName: 'pci-idio-16' });
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
    return this.#regs.read(offset, size);
  }

  /** A write of BAR2. Wider accesses write consecutive registers, low byte first. */
  write(offset: number, value: number, size: 1 | 2 | 4): void {
    this.#regs.write(offset, value, size);
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

/** Properties of `-device pci-idio-16`. */
export const pciIdio16Properties = {
  inputs: prop.uint16({
    default: 0,
    description: 'levels of the 16 isolated inputs (bit n = input n); settable at run time (qom-set)',
  }),
} as const;

/**
 * `-device pci-idio-16`: 494f:0dc8, registers in BAR2 (256 bytes of I/O), INTx pin A; Linux's
 * `gpio-pci-idio-16` driver binds it. The host drives the inputs through the runtime property
 * `inputs` and reads the guest's outputs from the status property `outputs`.
 */
export const pciIdio16Device = defineDevice({
  name: 'pci-idio-16',
  description: 'ACCES PCI-IDIO-16 isolated digital I/O (494f:0dc8)',
  identity: { ...PCI_IDIO_16_PCI_IDS, interruptPin: 1 },
  properties: pciIdio16Properties,
  create: (ctx) => new PciIdio16({ irq: ctx.irq.intx, inputs: ctx.props.inputs, log: ctx.log }),
  runtime: { inputs: { get: (gpio) => gpio.inputs, set: (gpio, levels) => gpio.setInputs(levels) } },
  status: {
    outputs: {
      typeName: 'uint16',
      description: 'levels the guest drives on the 16 outputs',
      get: (gpio) => gpio.outputs,
    },
  },
  bars: (gpio) => [
    {
      index: PCI_IDIO_16_BAR,
      kind: 'io',
      size: PCI_IDIO_16_IO_SIZE,
      ops: {
        read: (offset, size) => gpio.read(offset, size),
        write: (offset, value, size) => gpio.write(offset, value, size),
        impl: { minAccessSize: 1, maxAccessSize: 1 },
      },
    },
  ],
  unrealize: (gpio) => gpio.reset('warm'),
  reset: (gpio, kind) => gpio.reset(kind),
  state: deviceState({
    schema: pciIdio16VmState,
    save: (gpio: PciIdio16) => gpio.saveState(),
    load: (gpio: PciIdio16, v) => gpio.restoreState(v),
  }),
});
