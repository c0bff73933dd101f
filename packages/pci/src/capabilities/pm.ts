/**
 * Power Management capability (ID 0x01), PCI Bus Power Management 1.2, with QEMU's rules
 * (`pci_pm_init`/`pci_pm_update`, QEMU >= 10.0): only the power-state field (and PME enable when
 * PME is supported) is writable, PME status is RW1C, D1/D2 writes are refused unless advertised, as
 * are transitions from a non-D0 state to a lower non-D0 state; BARs are unmapped outside D0.
 */
import {
  PCI_CAP_ID_PM,
  PCI_PM_CAP_D1,
  PCI_PM_CAP_D2,
  PCI_PM_CTRL,
  PCI_PM_CTRL_NO_SOFT_RESET,
  PCI_PM_CTRL_PME_ENABLE,
  PCI_PM_CTRL_PME_STATUS,
  PCI_PM_CTRL_STATE_MASK,
  PCI_PM_PMC,
  PCI_PM_SIZEOF,
} from '../regs';
import { type CapabilityHost, rangesOverlap } from './host';

/** How to build a PM capability. */
export interface PmOptions {
  /** D1 supported (default false). */
  d1?: boolean;
  /** D2 supported (default false). */
  d2?: boolean;
  /** No_Soft_Reset: a D3hot->D0 transition keeps state (default true, as QEMU's nvme). */
  noSoftReset?: boolean;
  /** PME support bits 15:11 of PMC (5 bits: D0, D1, D2, D3hot, D3cold); default 0. */
  pmeSupport?: number;
  /** Config-space offset; 0 or absent = first free space. */
  offset?: number;
}

/** Power states D0-D3hot as the PMCSR field encodes them. */
export type PowerState = 0 | 1 | 2 | 3;

/** A device's PM capability. */
export class PmCapability {
  readonly offset: number;
  readonly #host: CapabilityHost;
  readonly #noSoftReset: boolean;

  /** @internal Use `PciDevice.pmInit`. */
  constructor(host: CapabilityHost, opts: PmOptions = {}) {
    this.#host = host;
    const cfg = host.config;
    this.offset = cfg.addCapability(PCI_CAP_ID_PM, opts.offset ?? 0, PCI_PM_SIZEOF);
    const pme = (opts.pmeSupport ?? 0) & 0x1f;
    const pmc = 3 | (opts.d1 ? PCI_PM_CAP_D1 : 0) | (opts.d2 ? PCI_PM_CAP_D2 : 0) | (pme << 11);
    cfg.setWord(this.offset + PCI_PM_PMC, pmc);
    this.#noSoftReset = opts.noSoftReset ?? true;
    cfg.setWord(this.offset + PCI_PM_CTRL, this.#noSoftReset ? PCI_PM_CTRL_NO_SOFT_RESET : 0);
    cfg.setMask(
      cfg.wmask,
      this.offset + PCI_PM_CTRL,
      PCI_PM_CTRL_STATE_MASK | (pme ? PCI_PM_CTRL_PME_ENABLE : 0),
      2,
    );
    cfg.setMask(cfg.w1cmask, this.offset + PCI_PM_CTRL, pme ? PCI_PM_CTRL_PME_STATUS : 0, 2);
  }

  /** Current power state. */
  get state(): PowerState {
    return (this.#host.config.getWord(this.offset + PCI_PM_CTRL) & PCI_PM_CTRL_STATE_MASK) as PowerState;
  }

  /** @internal After a config write; `old` is the state before it. Returns whether the state changed. */
  configWritten(addr: number, len: number, old: PowerState): boolean {
    if (!rangesOverlap(addr, len, this.offset + PCI_PM_CTRL, 1)) return false;
    const cfg = this.#host.config;
    const pmc = cfg.getWord(this.offset + PCI_PM_PMC);
    const state = this.state;
    const bad =
      (state === 1 && (pmc & PCI_PM_CAP_D1) === 0) ||
      (state === 2 && (pmc & PCI_PM_CAP_D2) === 0) ||
      (old !== 0 && state !== 0 && state < old);
    if (bad) {
      const ctrl = cfg.getWord(this.offset + PCI_PM_CTRL);
      cfg.setWord(this.offset + PCI_PM_CTRL, (ctrl & ~PCI_PM_CTRL_STATE_MASK) | old);
      return false;
    }
    return state !== old;
  }

  /** @internal Device reset: back to D0, PME enable and status cleared. */
  reset(): void {
    this.#host.config.setWord(this.offset + PCI_PM_CTRL, this.#noSoftReset ? PCI_PM_CTRL_NO_SOFT_RESET : 0);
  }
}
