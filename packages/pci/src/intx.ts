/**
 * A function's INTx pin (QEMU `pci_set_irq` / `pci_irq_handler`): the device's level,
 * Status.INTERRUPT following it, and the level the bus sees, gated by Command.INTX_DISABLE.
 */
import type { ConfigSpace } from './config-space';
import type { IrqStateEvent } from './interrupts';
import { PCI_COMMAND, PCI_COMMAND_INTX_DISABLE, PCI_STATUS, PCI_STATUS_INTERRUPT } from './regs';

/** What the pin needs from its function. */
export interface IntxHost {
  readonly config: ConfigSpace;
  /** Tells the bus's interrupt sink the level it now sees. */
  signal(level: boolean): void;
  /** Reports an INTx-disable change to the bus's interrupt sink. */
  report(event: IrqStateEvent): void;
}

/** The INTx state of one function. */
export class IntxPin {
  readonly #host: IntxHost;
  #level = false;
  #busLevel = false;
  #reportedDisabled = false;

  constructor(host: IntxHost) {
    this.#host = host;
  }

  /** The device's level (before INTx-disable gating). */
  get level(): boolean {
    return this.#level;
  }

  /** The level the bus sees: asserted and not disabled by Command.INTX_DISABLE. */
  get busLevel(): boolean {
    return this.#busLevel;
  }

  /** Sets the device's level; Status.INTERRUPT follows it. */
  set(level: boolean): void {
    if (level === this.#level) return;
    this.#level = level;
    const cfg = this.#host.config;
    const st = cfg.getWord(PCI_STATUS);
    cfg.setWord(PCI_STATUS, level ? st | PCI_STATUS_INTERRUPT : st & ~PCI_STATUS_INTERRUPT);
    this.update();
  }

  /** Takes a saved device level (Status.INTERRUPT comes with the saved config); call `update` next. */
  restore(level: boolean): void {
    this.#level = level;
  }

  /** Re-evaluates the bus level after a Command write. */
  update(): void {
    const level = this.#level && !this.#disabled();
    if (level === this.#busLevel) return;
    this.#busLevel = level;
    this.#host.signal(level);
  }

  /** Reports a change of Command.INTX_DISABLE once. */
  reportDisable(): void {
    const disabled = this.#disabled();
    if (disabled === this.#reportedDisabled) return;
    this.#reportedDisabled = disabled;
    this.#host.report({ kind: 'intx-disable', disabled });
  }

  /** Forgets every level (new header, or teardown after the bus was told). */
  clear(): void {
    this.#level = false;
    this.#busLevel = false;
    this.#reportedDisabled = false;
  }

  #disabled(): boolean {
    return (this.#host.config.getWord(PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE) !== 0;
  }
}
