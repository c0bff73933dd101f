/**
 * MSI capability (ID 0x05), PCI Local Bus 3.0 §6.8.1, modelled on QEMU `hw/pci/msi.c`:
 * 32/64-bit address, 1-32 vectors, optional per-vector masking with pending bits.
 */
import { hex, PciError } from '../errors';
import type { MsiMessage, MsiOutcome } from '../interrupts';
import {
  PCI_CAP_ID_MSI,
  PCI_MSI_ADDRESS_HI,
  PCI_MSI_ADDRESS_LO,
  PCI_MSI_DATA_32,
  PCI_MSI_DATA_64,
  PCI_MSI_FLAGS,
  PCI_MSI_FLAGS_64BIT,
  PCI_MSI_FLAGS_ENABLE,
  PCI_MSI_FLAGS_MASKBIT,
  PCI_MSI_FLAGS_QMASK,
  PCI_MSI_FLAGS_QSIZE,
  PCI_MSI_MASK_32,
  PCI_MSI_MASK_64,
  PCI_MSI_PENDING_32,
  PCI_MSI_PENDING_64,
} from '../regs';
import { type CapabilityHost, rangesOverlap } from './host';

/** Capability length without per-vector masking: 32-bit (QEMU `msi_cap_sizeof`) and 64-bit address. */
const MSI_CAP_SIZEOF_32 = 0x0a;
const MSI_CAP_SIZEOF_64 = 0x0e;
/** What per-vector masking adds: reserved word, mask and pending registers. */
const MSI_CAP_SIZEOF_MASK = 0x0a;
/** Bit position of Multiple Message Capable (QMASK) and Multiple Message Enable (QSIZE) in flags. */
const MSI_QMASK_SHIFT = 1;
const MSI_QSIZE_SHIFT = 4;
/** Writable bits of Message Address (low dword 4-byte aligned), Upper Address and Message Data. */
const MSI_ADDRESS_LO_MASK = 0xffff_fffc;
const MSI_ADDRESS_HI_MASK = 0xffff_ffff;
const MSI_DATA_MASK = 0xffff;

/** Bit v set for each vector v < n (n in 1..32). */
function vectorBits(n: number): number {
  return 0xffff_ffff >>> (32 - n);
}

/** How to build an MSI capability. */
export interface MsiOptions {
  /** Vectors the device supports: a power of two, 1-32 (default 1). */
  vectors?: number;
  /** 64-bit message address (default true). */
  address64?: boolean;
  /** Per-vector masking with mask and pending registers (default false). */
  perVectorMask?: boolean;
  /** Config-space offset; 0 or absent = first free space. */
  offset?: number;
}

/** A device's MSI capability and its delivery rules. */
export class MsiCapability {
  readonly offset: number;
  /** Vectors the device supports (Multiple Message Capable). */
  readonly vectorsCapable: number;
  readonly address64: boolean;
  readonly perVectorMask: boolean;
  /** Capability length in bytes. */
  readonly size: number;
  readonly #host: CapabilityHost;
  #reportedEnabled = false;
  #reportedVectors = 1;
  #reportedMask = 0;

  /** @internal Use `PciDevice.msiInit`. */
  constructor(host: CapabilityHost, opts: MsiOptions = {}) {
    const vectors = opts.vectors ?? 1;
    if (!Number.isInteger(vectors) || vectors < 1 || vectors > 32 || (vectors & (vectors - 1)) !== 0) {
      throw new PciError(
        'invalid-capability',
        `${host.label}: MSI vector count ${vectors} must be a power of two in 1-32`,
      );
    }
    this.#host = host;
    this.vectorsCapable = vectors;
    this.address64 = opts.address64 ?? true;
    this.perVectorMask = opts.perVectorMask ?? false;
    this.size =
      (this.address64 ? MSI_CAP_SIZEOF_64 : MSI_CAP_SIZEOF_32) +
      (this.perVectorMask ? MSI_CAP_SIZEOF_MASK : 0);
    const cfg = host.config;
    this.offset = cfg.addCapability(PCI_CAP_ID_MSI, opts.offset ?? 0, this.size);
    const cap = this.offset;
    let flags = Math.log2(vectors) << MSI_QMASK_SHIFT;
    if (this.address64) flags |= PCI_MSI_FLAGS_64BIT;
    if (this.perVectorMask) flags |= PCI_MSI_FLAGS_MASKBIT;
    cfg.setWord(cap + PCI_MSI_FLAGS, flags);
    cfg.setMask(cfg.wmask, cap + PCI_MSI_FLAGS, PCI_MSI_FLAGS_QSIZE | PCI_MSI_FLAGS_ENABLE, 2);
    cfg.setMask(cfg.wmask, cap + PCI_MSI_ADDRESS_LO, MSI_ADDRESS_LO_MASK, 4);
    if (this.address64) cfg.setMask(cfg.wmask, cap + PCI_MSI_ADDRESS_HI, MSI_ADDRESS_HI_MASK, 4);
    cfg.setMask(cfg.wmask, this.#dataOffset, MSI_DATA_MASK, 2);
    if (this.perVectorMask) cfg.setMask(cfg.wmask, this.#maskOffset, vectorBits(vectors), 4);
  }

  get #dataOffset(): number {
    return this.offset + (this.address64 ? PCI_MSI_DATA_64 : PCI_MSI_DATA_32);
  }
  get #maskOffset(): number {
    return this.offset + (this.address64 ? PCI_MSI_MASK_64 : PCI_MSI_MASK_32);
  }
  get #pendingOffset(): number {
    return this.offset + (this.address64 ? PCI_MSI_PENDING_64 : PCI_MSI_PENDING_32);
  }
  get #flags(): number {
    return this.#host.config.getWord(this.offset + PCI_MSI_FLAGS);
  }

  /** MSI Enable bit. */
  get enabled(): boolean {
    return (this.#flags & PCI_MSI_FLAGS_ENABLE) !== 0;
  }

  /** Vectors allocated by software (Multiple Message Enable), clamped to what is capable. */
  get vectorsEnabled(): number {
    const log = Math.min(
      (this.#flags & PCI_MSI_FLAGS_QSIZE) >> MSI_QSIZE_SHIFT,
      (this.#flags & PCI_MSI_FLAGS_QMASK) >> MSI_QMASK_SHIFT,
    );
    return 1 << log;
  }

  /** Mask register (bit v = vector v masked); 0 without per-vector masking. */
  get maskBits(): number {
    return this.perVectorMask ? this.#host.config.getLong(this.#maskOffset) : 0;
  }

  /** Pending register (bit v = vector v pending); 0 without per-vector masking. */
  get pendingBits(): number {
    return this.perVectorMask ? this.#host.config.getLong(this.#pendingOffset) : 0;
  }

  /** Whether vector `v` is masked by its mask bit. */
  isMasked(vector: number): boolean {
    this.#checkVector(vector);
    return ((this.maskBits >>> vector) & 1) === 1;
  }

  /** Whether vector `v` has its pending bit set. */
  isPending(vector: number): boolean {
    this.#checkVector(vector);
    return ((this.pendingBits >>> vector) & 1) === 1;
  }

  /** The message vector `v` sends: programmed address, data with its low bits replaced by `v`. */
  message(vector: number): MsiMessage {
    this.#checkVector(vector);
    const cfg = this.#host.config;
    let address = BigInt(cfg.getLong(this.offset + PCI_MSI_ADDRESS_LO));
    if (this.address64) address |= BigInt(cfg.getLong(this.offset + PCI_MSI_ADDRESS_HI)) << 32n;
    const n = this.vectorsEnabled;
    let data = cfg.getWord(this.#dataOffset);
    if (n > 1) data = (data & ~(n - 1)) | vector;
    return { address, data };
  }

  /**
   * Fires vector `v` (QEMU `msi_notify`): dropped unless MSI is enabled and `v` is allocated;
   * a masked vector becomes pending; otherwise the message goes to the bus's sink.
   */
  notify(vector: number): MsiOutcome {
    this.#checkVector(vector);
    if (!this.enabled || vector >= this.vectorsEnabled) return 'disabled';
    if (this.isMasked(vector)) {
      this.#setPending(vector, true);
      return 'pending';
    }
    return this.#host.sendMessage('msi', vector, this.message(vector));
  }

  /** @internal After a config write (QEMU `msi_write_config`). */
  configWritten(addr: number, len: number): void {
    if (!rangesOverlap(addr, len, this.offset, this.size)) return;
    const cfg = this.#host.config;
    if (this.enabled) {
      this.#host.deassertIntx();
      const flags = this.#flags;
      const logNum = (flags & PCI_MSI_FLAGS_QSIZE) >> MSI_QSIZE_SHIFT;
      const logMax = (flags & PCI_MSI_FLAGS_QMASK) >> MSI_QMASK_SHIFT;
      // Software may allocate more than capable; not legal, so clamp as QEMU does.
      if (logNum > logMax)
        cfg.setWord(
          this.offset + PCI_MSI_FLAGS,
          (flags & ~PCI_MSI_FLAGS_QSIZE) | (logMax << MSI_QSIZE_SHIFT),
        );
    }
    this.#report();
    if (!this.enabled || !this.perVectorMask) return;
    const n = this.vectorsEnabled;
    const pending = (this.pendingBits & vectorBits(n)) >>> 0;
    cfg.setLong(this.#pendingOffset, pending);
    for (let v = 0; v < n; v++) {
      if (this.isMasked(v) || ((pending >>> v) & 1) === 0) continue;
      this.#setPending(v, false);
      this.notify(v);
    }
  }

  /** @internal Device reset: enable and QSIZE cleared, address/data/mask/pending zeroed. */
  reset(): void {
    const cfg = this.#host.config;
    cfg.setWord(this.offset + PCI_MSI_FLAGS, this.#flags & ~(PCI_MSI_FLAGS_QSIZE | PCI_MSI_FLAGS_ENABLE));
    cfg.setLong(this.offset + PCI_MSI_ADDRESS_LO, 0);
    if (this.address64) cfg.setLong(this.offset + PCI_MSI_ADDRESS_HI, 0);
    cfg.setWord(this.#dataOffset, 0);
    if (this.perVectorMask) {
      cfg.setLong(this.#maskOffset, 0);
      cfg.setLong(this.#pendingOffset, 0);
    }
    this.#report();
  }

  #report(): void {
    const enabled = this.enabled;
    const vectors = this.vectorsEnabled;
    if (enabled !== this.#reportedEnabled || vectors !== this.#reportedVectors) {
      this.#reportedEnabled = enabled;
      this.#reportedVectors = vectors;
      this.#host.reportIrqState({ kind: 'msi-enable', enabled, vectors });
    }
    const mask = this.maskBits;
    if (mask !== this.#reportedMask) {
      this.#reportedMask = mask;
      this.#host.reportIrqState({ kind: 'msi-mask', mask });
    }
  }

  #setPending(vector: number, pending: boolean): void {
    const cfg = this.#host.config;
    const bits = cfg.getLong(this.#pendingOffset);
    cfg.setLong(this.#pendingOffset, pending ? bits | (1 << vector) : bits & ~(1 << vector));
  }

  #checkVector(vector: number): void {
    if (!Number.isInteger(vector) || vector < 0 || vector >= this.vectorsCapable) {
      throw new PciError(
        'invalid-vector',
        `${this.#host.label}: MSI vector ${vector} out of range (device supports ${this.vectorsCapable}) at cap ${hex(this.offset)}`,
        { vector },
      );
    }
  }
}
