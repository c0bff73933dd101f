/**
 * PCI Express capability (ID 0x10), version 2, for endpoints (PCIe Base 4.0 §7.5.3), laid out as
 * QEMU's `pcie_endpoint_cap_init` (0x3c bytes). Optional Function Level Reset: writing Initiate
 * FLR resets the function.
 */
import { PciError } from '../errors';
import {
  PCI_CAP_ID_EXP,
  PCI_EXP_DEVCAP,
  PCI_EXP_DEVCAP_FLR,
  PCI_EXP_DEVCTL,
  PCI_EXP_DEVCTL_BCR_FLR,
  PCI_EXP_DEVCTL2,
  PCI_EXP_DEVSTA,
  PCI_EXP_FLAGS,
  PCI_EXP_FLAGS_TYPE_SHIFT,
  PCI_EXP_LNKCAP,
  PCI_EXP_LNKCAP2,
  PCI_EXP_LNKCTL,
  PCI_EXP_LNKCTL2,
  PCI_EXP_LNKSTA,
  PCI_EXP_TYPE_ENDPOINT,
  PCI_EXP_TYPE_LEG_END,
  PCI_EXP_TYPE_RC_END,
  PCI_EXP_VER2_SIZEOF,
} from '../regs';
import { type CapabilityHost, rangesOverlap } from './host';

/** Device/port type of a PCIe function (endpoint kinds only: there are no ports here). */
export type PcieDeviceType = 'endpoint' | 'legacy-endpoint' | 'rc-integrated-endpoint';

/** How to build a PCIe capability. */
export interface PcieOptions {
  type?: PcieDeviceType;
  /** Advertise Function Level Reset (default true). */
  flr?: boolean;
  /** Link speed in GT/s generation: 1 = 2.5, 2 = 5, 3 = 8, 4 = 16 (default 1). */
  linkSpeed?: 1 | 2 | 3 | 4;
  /** Link width: 1, 2, 4, 8, 16 or 32 lanes (default 1). */
  linkWidth?: 1 | 2 | 4 | 8 | 16 | 32;
  /** Config-space offset; 0 or absent = first free space. */
  offset?: number;
}

const TYPE_CODE: Record<PcieDeviceType, number> = {
  endpoint: PCI_EXP_TYPE_ENDPOINT,
  'legacy-endpoint': PCI_EXP_TYPE_LEG_END,
  'rc-integrated-endpoint': PCI_EXP_TYPE_RC_END,
};

/** Writable bits of Device Control: error reporting enables, relaxed ordering, payload, ext tag, no snoop, read request size. */
const DEVCTL_WMASK = 0x79ff;
/** Device Status error bits (RW1C). */
const DEVSTA_W1C = 0x000f;
/** Link Control: ASPM control, common clock, extended synch. */
const LNKCTL_WMASK = 0x00c3;

/** A device's PCI Express capability. */
export class PcieCapability {
  readonly offset: number;
  readonly type: PcieDeviceType;
  readonly flr: boolean;
  readonly #host: CapabilityHost;
  readonly #lnksta: number;

  /** @internal Use `PciDevice.pcieInit`. */
  constructor(host: CapabilityHost, opts: PcieOptions = {}) {
    if (!host.config.isExpress) {
      throw new PciError(
        'invalid-capability',
        `${host.label}: a PCI Express capability needs a 4 KiB config space`,
      );
    }
    this.#host = host;
    this.type = opts.type ?? 'endpoint';
    this.flr = opts.flr ?? true;
    const cfg = host.config;
    const cap = cfg.addCapability(PCI_CAP_ID_EXP, opts.offset ?? 0, PCI_EXP_VER2_SIZEOF);
    this.offset = cap;
    const speed = opts.linkSpeed ?? 1;
    const width = opts.linkWidth ?? 1;
    cfg.setWord(cap + PCI_EXP_FLAGS, 2 | (TYPE_CODE[this.type] << PCI_EXP_FLAGS_TYPE_SHIFT));
    // Role-based error reporting (bit 15), as QEMU sets for every function.
    cfg.setLong(cap + PCI_EXP_DEVCAP, (0x8000 | (this.flr ? PCI_EXP_DEVCAP_FLR : 0)) >>> 0);
    cfg.setLong(cap + PCI_EXP_LNKCAP, speed | (width << 4));
    this.#lnksta = speed | (width << 4);
    cfg.setWord(cap + PCI_EXP_LNKSTA, this.#lnksta);
    cfg.setLong(cap + PCI_EXP_LNKCAP2, ((1 << speed) - 1) << 1);
    cfg.setWord(cap + PCI_EXP_LNKCTL2, speed);
    cfg.setMask(cfg.wmask, cap + PCI_EXP_DEVCTL, DEVCTL_WMASK | (this.flr ? PCI_EXP_DEVCTL_BCR_FLR : 0), 2);
    cfg.setMask(cfg.w1cmask, cap + PCI_EXP_DEVSTA, DEVSTA_W1C, 2);
    cfg.setMask(cfg.wmask, cap + PCI_EXP_LNKCTL, LNKCTL_WMASK, 2);
    cfg.setMask(cfg.wmask, cap + PCI_EXP_DEVCTL2, 0x001f, 2);
    cfg.setMask(cfg.wmask, cap + PCI_EXP_LNKCTL2, 0x000f, 2);
  }

  /**
   * @internal After a config write: returns true when Initiate FLR was written (the bit is
   * self-clearing; the device then resets the function).
   */
  configWritten(addr: number, len: number): boolean {
    if (!this.flr || !rangesOverlap(addr, len, this.offset + PCI_EXP_DEVCTL, 2)) return false;
    const cfg = this.#host.config;
    const ctl = cfg.getWord(this.offset + PCI_EXP_DEVCTL);
    if ((ctl & PCI_EXP_DEVCTL_BCR_FLR) === 0) return false;
    cfg.setWord(this.offset + PCI_EXP_DEVCTL, ctl & ~PCI_EXP_DEVCTL_BCR_FLR);
    return true;
  }

  /** @internal Device reset: control registers back to 0, status cleared. */
  reset(): void {
    const cfg = this.#host.config;
    for (const reg of [PCI_EXP_DEVCTL, PCI_EXP_DEVSTA, PCI_EXP_LNKCTL, PCI_EXP_DEVCTL2])
      cfg.setWord(this.offset + reg, 0);
    cfg.setWord(this.offset + PCI_EXP_LNKCTL2, cfg.getLong(this.offset + PCI_EXP_LNKCAP) & 0xf);
    cfg.setWord(this.offset + PCI_EXP_LNKSTA, this.#lnksta);
  }
}
