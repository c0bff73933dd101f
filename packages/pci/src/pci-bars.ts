/**
 * The BARs and expansion ROM of a PCI function (QEMU `PCIIORegion`s with `pci_register_bar` and
 * `pci_update_mappings`): registration with the type bits and write masks in config space, the
 * address each BAR decodes at under the Command register, and its mapping into the bus's memory
 * or IO space.
 */
import type { MemoryRegion } from '@vfu/memory';
import { type BarDefinition, type BarKind, checkBarSize, PciBar } from './bar';
import type { ConfigSpace } from './config-space';
import { PciError } from './errors';
import type { PciRootBus } from './pci-bus';
import {
  PCI_COMMAND,
  PCI_COMMAND_IO,
  PCI_COMMAND_MEMORY,
  PCI_NUM_BARS,
  PCI_NUM_REGIONS,
  PCI_ROM_ADDRESS,
  PCI_ROM_ADDRESS_ENABLE,
  PCI_ROM_SLOT,
} from './regs';

/** One region as the vfio-user server enumerates it. */
export interface PciRegionInfo {
  /** 0-5 = BAR, 6 = ROM. */
  index: number;
  kind: BarKind;
  size: bigint;
  prefetchable: boolean;
  bar: PciBar;
}

/** What the BAR set needs from its function. */
export interface PciBarHost {
  readonly config: ConfigSpace;
  readonly label: string;
  /** The root bus (throws before realize). */
  readonly bus: PciRootBus;
  readonly realized: boolean;
  /** The `rombar` property is not 0. */
  romBarEnabled(): boolean;
  /** The function is in a PM state other than D0 (no BAR decodes). */
  poweredOff(): boolean;
}

const U64_MAX = (1n << 64n) - 1n;

/** BARs 0-5 and the ROM (index 6) of one function. */
export class PciBarSet {
  readonly #bars: (PciBar | undefined)[] = new Array(PCI_NUM_REGIONS).fill(undefined);
  readonly #host: PciBarHost;

  constructor(host: PciBarHost) {
    this.#host = host;
  }

  /** Every registered BAR and the ROM, in index order. */
  all(): PciBar[] {
    return this.#bars.filter((b): b is PciBar => b !== undefined);
  }

  /** Forgets every BAR (after teardown). */
  clear(): void {
    this.#bars.fill(undefined);
  }

  /**
   * Registers BAR `index` (QEMU `pci_register_bar`): the register gets its type bits and a write
   * mask of `~(size-1)` (over both dwords for a 64-bit BAR). Call from `realizePci`.
   */
  register(index: number, def: BarDefinition): PciBar {
    const bus = this.#host.bus;
    if (!Number.isInteger(index) || index < 0 || index >= PCI_NUM_BARS) {
      throw new PciError('invalid-bar', `${this.#host.label}: BAR index ${index} must be 0-5`, {
        barIndex: index,
      });
    }
    const kind = def.kind;
    if (kind !== 'io' && kind !== 'mem32' && kind !== 'mem64') {
      throw new PciError(
        'invalid-bar',
        `${this.#host.label}: BAR ${index} kind '${String(kind)}' must be io, mem32 or mem64`,
        {
          barIndex: index,
        },
      );
    }
    if (kind === 'mem64' && index === PCI_NUM_BARS - 1) {
      throw new PciError('invalid-bar', `${this.#host.label}: a 64-bit BAR cannot start at BAR 5`, {
        barIndex: index,
      });
    }
    if (this.#bars[index] !== undefined || (index > 0 && this.#bars[index - 1]?.kind === 'mem64')) {
      throw new PciError('bar-in-use', `${this.#host.label}: BAR ${index} is already registered`, {
        barIndex: index,
      });
    }
    if (kind === 'mem64' && this.#bars[index + 1] !== undefined) {
      throw new PciError(
        'bar-in-use',
        `${this.#host.label}: BAR ${index + 1} (upper half of 64-bit BAR ${index}) is in use`,
        {
          barIndex: index,
        },
      );
    }
    if (kind === 'io' && def.prefetchable) {
      throw new PciError('invalid-bar', `${this.#host.label}: an IO BAR cannot be prefetchable`, {
        barIndex: index,
      });
    }
    checkBarSize(index, kind, def.region.size);
    const bar = new PciBar(
      index,
      kind,
      def.prefetchable ?? false,
      def.region,
      bus.memoryContext,
      this.#host.label,
    );
    this.#bars[index] = bar;
    const cfg = this.#host.config;
    const mask = ~(bar.size - 1n) & U64_MAX;
    cfg.setLong(bar.configOffset, bar.typeBits);
    cfg.setMask(cfg.wmask, bar.configOffset, Number(mask & 0xffffffffn), 4);
    if (kind === 'mem64') {
      cfg.setLong(bar.configOffset + 4, 0);
      cfg.setMask(cfg.wmask, bar.configOffset + 4, Number(mask >> 32n), 4);
    }
    if (kind === 'io') cfg.setMask(cfg.wmask, bar.configOffset, Number(mask & 0xfffffffcn), 4);
    if (this.#host.realized) this.updateMappings();
    return bar;
  }

  /**
   * Registers the expansion ROM (region kind `rom`, or any region; size a power of two >= 2 KiB).
   * With the `rombar=0` property the ROM is not exposed (register reads 0), as in QEMU.
   */
  registerRom(region: MemoryRegion): PciBar | undefined {
    const bus = this.#host.bus;
    if (!this.#host.romBarEnabled()) return undefined;
    if (this.#bars[PCI_ROM_SLOT] !== undefined) {
      throw new PciError('bar-in-use', `${this.#host.label}: expansion ROM already registered`, {
        barIndex: PCI_ROM_SLOT,
      });
    }
    checkBarSize(PCI_ROM_SLOT, 'rom', region.size);
    const bar = new PciBar(PCI_ROM_SLOT, 'rom', false, region, bus.memoryContext, this.#host.label);
    this.#bars[PCI_ROM_SLOT] = bar;
    const cfg = this.#host.config;
    cfg.setLong(PCI_ROM_ADDRESS, 0);
    cfg.setMask(cfg.wmask, PCI_ROM_ADDRESS, Number((~(bar.size - 1n) & 0xffffffffn) | 1n), 4);
    if (this.#host.realized) this.updateMappings();
    return bar;
  }

  /** Registered BAR or ROM (index 6) or `undefined`. */
  get(index: number): PciBar | undefined {
    return this.#bars[index];
  }

  /** Every registered region (BARs, then ROM) for the server to enumerate. */
  regions(): PciRegionInfo[] {
    return this.#bars
      .filter((b): b is PciBar => b !== undefined)
      .map((bar) => ({
        index: bar.index,
        kind: bar.kind,
        size: bar.size,
        prefetchable: bar.prefetchable,
        bar,
      }));
  }

  /**
   * Address BAR `index` decodes at under the QEMU `pci_bar_address` rules, or `undefined` if it
   * must not be mapped (decode bit off, ROM disabled, address 0, wrap, all-ones probe value...).
   */
  address(index: number): bigint | undefined {
    const bar = this.#bars[index];
    if (bar === undefined) return undefined;
    const cfg = this.#host.config;
    const cmd = cfg.getWord(PCI_COMMAND);
    const size = bar.size;
    const sizeMask = ~(size - 1n) & U64_MAX;
    if (bar.kind === 'io') {
      if ((cmd & PCI_COMMAND_IO) === 0) return undefined;
      const addr = BigInt(cfg.getLong(bar.configOffset)) & sizeMask;
      const last = addr + size - 1n;
      if (last <= addr || last >= 0xffffffffn || (addr === 0n && !this.#host.bus.allowZeroAddress))
        return undefined;
      return addr;
    }
    if ((cmd & PCI_COMMAND_MEMORY) === 0) return undefined;
    let raw = BigInt(cfg.getLong(bar.configOffset));
    if (bar.kind === 'mem64') raw |= BigInt(cfg.getLong(bar.configOffset + 4)) << 32n;
    if (bar.kind === 'rom' && (raw & BigInt(PCI_ROM_ADDRESS_ENABLE)) === 0n) return undefined;
    const addr = raw & sizeMask;
    const last = addr + size - 1n;
    if (last <= addr || last === U64_MAX || (addr === 0n && !this.#host.bus.allowZeroAddress))
      return undefined;
    if (bar.kind !== 'mem64' && last >= 0xffffffffn) return undefined;
    return addr;
  }

  /**
   * Re-evaluates every BAR's mapping and moves, maps or unmaps it in the bus's memory or IO space,
   * in one memory transaction (QEMU `pci_update_mappings`). Config writes call it; device code
   * only needs it after changing BAR state behind the config path.
   */
  updateMappings(): void {
    const bus = this.#host.bus;
    const off = this.#host.poweredOff();
    bus.memoryContext.transaction(() => {
      for (const bar of this.#bars) {
        if (bar === undefined) continue;
        const next = off || !this.#host.realized ? undefined : this.address(bar.index);
        const current = bar.mappedAddress;
        if (next === current) continue;
        const space = bar.isIo ? bus.ioSpace : bus.memorySpace;
        if (current !== undefined) space.removeSubregion(bar.busAlias);
        if (next !== undefined) space.addSubregionOverlap(next, bar.busAlias, 1);
        bar.setMappedAddress(next);
      }
    });
  }
}
