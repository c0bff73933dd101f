/**
 * PCI configuration space as QEMU models it: parallel per-byte arrays `config` (the bytes),
 * `wmask` (software-writable bits), `w1cmask` (write-1-to-clear bits), `cmask` (bits compared on
 * migration) and `used` (capability space allocation), with one generic masked write path.
 * The capability-list builder lives here too, since it only manipulates these arrays.
 */
import { hex, PciError } from './errors';
import {
  PCI_CAP_LIST_NEXT,
  PCI_CAPABILITY_LIST,
  PCI_CFG_SPACE_EXP_SIZE,
  PCI_CFG_SPACE_SIZE,
  PCI_STATUS,
  PCI_STATUS_CAP_LIST,
  PCI_STD_HEADER_SIZEOF,
} from './regs';

/** Size of a config access in bytes. */
export type ConfigAccessSize = 1 | 2 | 4;

/** A capability found by walking a list. */
export interface CapabilityEntry {
  id: number;
  offset: number;
  /** Extended capabilities only: the 4-bit version. */
  version?: number;
}

/** Per-byte masks and contents of one function's configuration space. */
export class ConfigSpace {
  /** 256 for conventional PCI, 4096 for PCI Express. */
  readonly size: number;
  readonly config: Uint8Array;
  readonly wmask: Uint8Array;
  readonly w1cmask: Uint8Array;
  readonly cmask: Uint8Array;
  readonly used: Uint8Array;
  readonly #view: DataView;

  constructor(size: number) {
    if (size !== PCI_CFG_SPACE_SIZE && size !== PCI_CFG_SPACE_EXP_SIZE) {
      throw new PciError('invalid-config-access', `config space size must be 256 or 4096, got ${size}`);
    }
    this.size = size;
    this.config = new Uint8Array(size);
    this.wmask = new Uint8Array(size);
    this.w1cmask = new Uint8Array(size);
    this.cmask = new Uint8Array(size);
    this.used = new Uint8Array(size);
    this.#view = new DataView(this.config.buffer);
  }

  /** Whether this is a 4 KiB PCI Express config space. */
  get isExpress(): boolean {
    return this.size === PCI_CFG_SPACE_EXP_SIZE;
  }

  /** Throws `invalid-config-access` unless `[offset, offset+size)` lies inside the space. */
  checkRange(offset: number, size: number): void {
    if (
      !Number.isInteger(offset) ||
      !Number.isInteger(size) ||
      offset < 0 ||
      size < 0 ||
      offset + size > this.size
    ) {
      throw new PciError(
        'invalid-config-access',
        `config access ${hex(offset)}+${size} is outside the ${this.size}-byte config space`,
        { offset },
      );
    }
  }

  // Raw accessors (device-model side): no masks applied.
  getByte(offset: number): number {
    this.checkRange(offset, 1);
    return this.#view.getUint8(offset);
  }
  getWord(offset: number): number {
    this.checkRange(offset, 2);
    return this.#view.getUint16(offset, true);
  }
  getLong(offset: number): number {
    this.checkRange(offset, 4);
    return this.#view.getUint32(offset, true);
  }
  setByte(offset: number, value: number): void {
    this.checkRange(offset, 1);
    this.#view.setUint8(offset, value & 0xff);
  }
  setWord(offset: number, value: number): void {
    this.checkRange(offset, 2);
    this.#view.setUint16(offset, value & 0xffff, true);
  }
  setLong(offset: number, value: number): void {
    this.checkRange(offset, 4);
    this.#view.setUint32(offset, value >>> 0, true);
  }

  /** Sets `size` bytes of `mask` (wmask, w1cmask or cmask) from a little-endian value. */
  setMask(mask: Uint8Array, offset: number, value: number, size: ConfigAccessSize): void {
    this.checkRange(offset, size);
    for (let i = 0; i < size; i++) mask[offset + i] = (value >>> (8 * i)) & 0xff;
  }

  /** Reads a little-endian value of 1, 2 or 4 bytes. */
  read(offset: number, size: ConfigAccessSize): number {
    this.checkRange(offset, size);
    if (size === 4) return this.#view.getUint32(offset, true);
    if (size === 2) return this.#view.getUint16(offset, true);
    return this.#view.getUint8(offset);
  }

  /**
   * Software write (QEMU `pci_default_write_config` core): per byte,
   * `cfg = (cfg & ~wmask) | (val & wmask); cfg &= ~(val & w1cmask)`.
   */
  write(offset: number, value: number, size: ConfigAccessSize): void {
    this.checkRange(offset, size);
    for (let i = 0; i < size; i++) {
      const a = offset + i;
      const v = (value >>> (8 * i)) & 0xff;
      const w = this.wmask[a] as number;
      const c = ((this.config[a] as number) & ~w) | (v & w);
      this.config[a] = c & ~(v & (this.w1cmask[a] as number));
    }
  }

  /**
   * Adds a standard capability (QEMU `pci_add_capability`): `offset` 0 picks the first free
   * dword-aligned space at or above 0x40. The capability is linked at the head of the list, its
   * bytes become read-only and migration-checked, and Status.CAP_LIST is set. Returns its offset.
   */
  addCapability(id: number, offset: number, size: number): number {
    if (!Number.isInteger(id) || id < 0 || id > 0xff) {
      throw new PciError('invalid-capability', `capability id ${id} is not a byte`);
    }
    if (!Number.isInteger(size) || size < 2) {
      throw new PciError('invalid-capability', `capability ${hex(id, 2)} size ${size} is too small`);
    }
    let at = offset;
    if (at === 0) {
      at = this.#findSpace(PCI_STD_HEADER_SIZEOF, PCI_CFG_SPACE_SIZE, size);
      if (at === 0) {
        throw new PciError(
          'config-space-full',
          `no ${size} free bytes for capability ${hex(id, 2)} in 0x40-0xff`,
        );
      }
    } else {
      if (at < PCI_STD_HEADER_SIZEOF || at % 4 !== 0 || at + size > PCI_CFG_SPACE_SIZE) {
        throw new PciError(
          'invalid-capability',
          `capability ${hex(id, 2)} at ${hex(at)} (size ${size}) must be dword-aligned inside 0x40-0xff`,
          { offset: at },
        );
      }
      this.#checkFree(at, size, id);
    }
    this.config[at] = id;
    this.config[at + PCI_CAP_LIST_NEXT] = this.config[PCI_CAPABILITY_LIST] as number;
    this.config[PCI_CAPABILITY_LIST] = at;
    this.setWord(PCI_STATUS, this.getWord(PCI_STATUS) | PCI_STATUS_CAP_LIST);
    this.used.fill(0xff, at, at + size);
    this.wmask.fill(0, at, at + size);
    this.w1cmask.fill(0, at, at + size);
    this.cmask.fill(0xff, at, at + size);
    return at;
  }

  /**
   * Adds a PCI Express extended capability (QEMU `pcie_add_capability`): `offset` 0 picks the first
   * free dword-aligned space at or above 0x100. It is appended at the end of the list that starts
   * at 0x100. Returns its offset.
   */
  addExtendedCapability(id: number, version: number, offset: number, size: number): number {
    if (!this.isExpress) {
      throw new PciError(
        'invalid-capability',
        'extended capabilities need a 4 KiB (PCI Express) config space',
      );
    }
    if (
      !Number.isInteger(id) ||
      id < 0 ||
      id > 0xffff ||
      !Number.isInteger(version) ||
      version < 0 ||
      version > 0xf
    ) {
      throw new PciError(
        'invalid-capability',
        `extended capability id ${id} / version ${version} out of range`,
      );
    }
    if (!Number.isInteger(size) || size < 4) {
      throw new PciError('invalid-capability', `extended capability ${hex(id, 4)} size ${size} is too small`);
    }
    let at = offset;
    if (at === 0) {
      at = this.#findSpace(PCI_CFG_SPACE_SIZE, this.size, size);
      if (at === 0)
        throw new PciError(
          'config-space-full',
          `no ${size} free bytes for extended capability ${hex(id, 4)}`,
        );
    } else {
      if (at < PCI_CFG_SPACE_SIZE || at % 4 !== 0 || at + size > this.size) {
        throw new PciError(
          'invalid-capability',
          `extended capability ${hex(id, 4)} at ${hex(at)} must be dword-aligned inside 0x100-0xfff`,
          { offset: at },
        );
      }
      this.#checkFree(at, size, id);
    }
    const list = this.extendedCapabilities();
    const last = list[list.length - 1];
    if (at !== PCI_CFG_SPACE_SIZE && last === undefined && this.getLong(PCI_CFG_SPACE_SIZE) === 0) {
      // The list must start at 0x100: reserve it with a null header pointing here.
      this.setLong(PCI_CFG_SPACE_SIZE, at << 20);
      this.used.fill(0xff, PCI_CFG_SPACE_SIZE, PCI_CFG_SPACE_SIZE + 4);
    } else if (last !== undefined) {
      const header = this.getLong(last.offset);
      this.setLong(last.offset, (header & 0x000fffff) | (at << 20));
    }
    this.setLong(at, (id | (version << 16)) >>> 0);
    this.used.fill(0xff, at, at + size);
    this.wmask.fill(0, at, at + size);
    this.w1cmask.fill(0, at, at + size);
    this.cmask.fill(0xff, at, at + size);
    return at;
  }

  /** Walks the capability list from 0x34 (stops on loops or out-of-range pointers). */
  capabilities(): CapabilityEntry[] {
    const out: CapabilityEntry[] = [];
    if ((this.getWord(PCI_STATUS) & PCI_STATUS_CAP_LIST) === 0) return out;
    const seen = new Set<number>();
    let ptr = (this.config[PCI_CAPABILITY_LIST] as number) & ~3;
    while (ptr >= PCI_STD_HEADER_SIZEOF && ptr < PCI_CFG_SPACE_SIZE && !seen.has(ptr)) {
      seen.add(ptr);
      out.push({ id: this.config[ptr] as number, offset: ptr });
      ptr = (this.config[ptr + 1] as number) & ~3;
    }
    return out;
  }

  /** Walks the extended capability list from 0x100 (empty for conventional PCI). */
  extendedCapabilities(): CapabilityEntry[] {
    const out: CapabilityEntry[] = [];
    if (!this.isExpress) return out;
    const seen = new Set<number>();
    let ptr = PCI_CFG_SPACE_SIZE;
    while (ptr >= PCI_CFG_SPACE_SIZE && ptr + 4 <= this.size && !seen.has(ptr)) {
      seen.add(ptr);
      const header = this.getLong(ptr);
      if (header === 0) break;
      const id = header & 0xffff;
      if (id !== 0) out.push({ id, offset: ptr, version: (header >>> 16) & 0xf });
      ptr = (header >>> 20) & 0xffc;
    }
    return out;
  }

  /** Offset of the first standard capability with this id. */
  findCapability(id: number): number | undefined {
    return this.capabilities().find((c) => c.id === id)?.offset;
  }

  /** Offset of the first extended capability with this id. */
  findExtendedCapability(id: number): number | undefined {
    return this.extendedCapabilities().find((c) => c.id === id)?.offset;
  }

  #checkFree(at: number, size: number, id: number): void {
    for (let i = at; i < at + size; i++) {
      if (this.used[i] !== 0) {
        throw new PciError(
          'capability-overlap',
          `capability ${hex(id)} at ${hex(at)} (size ${size}) overlaps an existing capability at ${hex(i)}`,
          { offset: at },
        );
      }
    }
  }

  #findSpace(start: number, end: number, size: number): number {
    for (let at = start; at + size <= end; at += 4) {
      let free = true;
      for (let i = at; i < at + size; i++) {
        if (this.used[i] !== 0) {
          free = false;
          break;
        }
      }
      if (free) return at;
    }
    return 0;
  }
}

/** Throws `invalid-config-access` unless `size` is 1, 2 or 4. */
export function checkAccessSize(size: number): void {
  if (size !== 1 && size !== 2 && size !== 4) {
    throw new PciError('invalid-config-access', `config access size must be 1, 2 or 4, got ${size}`);
  }
}

/** Calls `fn` for each naturally aligned 1/2/4-byte piece of `[offset, offset+length)`. */
export function forEachAlignedChunk(
  offset: number,
  length: number,
  fn: (at: number, size: ConfigAccessSize) => void,
): void {
  let at = offset;
  const end = offset + length;
  while (at < end) {
    const left = end - at;
    const size: ConfigAccessSize = at % 4 === 0 && left >= 4 ? 4 : at % 2 === 0 && left >= 2 ? 2 : 1;
    fn(at, size);
    at += size;
  }
}
