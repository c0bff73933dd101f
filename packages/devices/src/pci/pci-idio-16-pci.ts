import { MemoryRegion } from '@vfu/memory';
import { PciDevice, type PciDeviceInit, prop, type ResetKind } from '@vfu/pci';
import { PCI_IDIO_16_BAR, PCI_IDIO_16_IO_SIZE, PCI_IDIO_16_PCI_IDS, PciIdio16 } from '../pci-idio-16';
import type { ZooContext } from './context';
import { intxLine } from './wiring';

/** Properties of `-device pci-idio-16`. */
export const pciIdio16Properties = {
  inputs: prop.uint16({
    default: 0,
    description: 'levels of the 16 isolated inputs at power-on (bit n = input n)',
  }),
} as const;

/** Property schema type of {@link PciIdio16Device}. */
export type PciIdio16Properties = typeof pciIdio16Properties;

/**
 * ACCES PCI-IDIO-16 on a PCI bus: 494f:0dc8, registers in BAR2 (256 bytes of I/O), INTx pin A.
 * Linux's `gpio-pci-idio-16` driver binds it. Inputs are driven by the host with
 * {@link PciIdio16Device.setInputs} / {@link PciIdio16Device.setInput} (the monitor's job).
 */
export class PciIdio16Device extends PciDevice {
  /** The register-level model behind BAR2. */
  readonly gpio: PciIdio16;

  constructor(init: PciDeviceInit<PciIdio16Properties>, context: ZooContext = {}) {
    super(init, { ...PCI_IDIO_16_PCI_IDS, interruptPin: 1 });
    this.gpio = new PciIdio16({
      irq: intxLine(this),
      inputs: init.props.inputs,
      ...(context.log === undefined ? {} : { log: context.log }),
    });
  }

  /** Input levels (bit n = input n). */
  get inputs(): number {
    return this.gpio.inputs;
  }

  /** Output levels the guest drives (bit n = output n). */
  get outputs(): number {
    return this.gpio.outputs;
  }

  /** Drive all 16 inputs; changes raise the input change interrupt when the guest enabled it. */
  setInputs(levels: number): void {
    this.gpio.setInputs(levels);
  }

  /** Drive one input (0-15). */
  setInput(line: number, level: boolean): void {
    this.gpio.setInput(line, level);
  }

  /** Observe output changes; returns unsubscribe. */
  onOutputsChanged(listener: (outputs: number, previous: number) => void): () => void {
    return this.gpio.onOutputsChanged(listener);
  }

  protected override realizePci(): void {
    const gpio = this.gpio;
    const region = MemoryRegion.io(
      'pci-idio-16',
      BigInt(PCI_IDIO_16_IO_SIZE),
      {
        read: (offset, size) => gpio.read(offset, size),
        write: (offset, value, size) => gpio.write(offset, value, size),
        impl: { minAccessSize: 1, maxAccessSize: 1 },
      },
      { owner: this },
    );
    this.registerBar(PCI_IDIO_16_BAR, { kind: 'io', region });
  }

  protected override unrealizePci(): void {
    this.gpio.reset('warm');
  }

  protected override resetPci(kind: ResetKind): void {
    this.gpio.reset(kind);
  }
}
