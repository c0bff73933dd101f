/**
 * The PCI device base class (QEMU `PCIDevice` + `hw/pci/pci.c` core): type 0 header, config-space
 * masks, BARs mapped by config writes, capabilities, INTx/MSI/MSI-X delivery to the bus's
 * InterruptSink, and DMA through a bus-master AddressSpace gated by Command.BUS_MASTER.
 *
 * Device authors subclass it, pass their identity (vendor/device/class...) to the constructor,
 * and register BARs and capabilities in `realizePci()`; the vfio-user server uses the
 * `configRead`/`configWrite`, `bars`, `irqInfo` and `reset` surface.
 */
import { type AddressSpace, MemoryRegion, type MemTxResult } from '@vfu/memory';
import { type BarDefinition, type BarKind, checkBarSize, PciBar } from './bar';
import type { CapabilityHost } from './capabilities/host';
import { MsiCapability, type MsiOptions } from './capabilities/msi';
import { MsixCapability, type MsixOptions } from './capabilities/msix';
import { PcieCapability, type PcieOptions } from './capabilities/pcie';
import { PmCapability, type PmOptions, type PowerState } from './capabilities/pm';
import { type ConfigAccessSize, ConfigSpace } from './config-space';
import { hex, PciError, QdevError } from './errors';
import type { InterruptSink, IrqInfo, IrqStateEvent, MsiMessage, MsiOutcome } from './interrupts';
import { formatDevfn, PCI_DEVFN_MAX, PciRootBus } from './pci-bus';
import { Device, type DeviceInit, type ResetKind } from './qdev/device';
import { type PropertySchema, prop } from './qdev/properties';
import type { DeviceClass } from './qdev/registry';
import {
  PCI_BASE_ADDRESS_0,
  PCI_CACHE_LINE_SIZE,
  PCI_CFG_SPACE_EXP_SIZE,
  PCI_CFG_SPACE_SIZE,
  PCI_CLASS_PROG,
  PCI_COMMAND,
  PCI_COMMAND_INTX_DISABLE,
  PCI_COMMAND_IO,
  PCI_COMMAND_MASTER,
  PCI_COMMAND_MEMORY,
  PCI_COMMAND_SERR,
  PCI_DEVICE_ID,
  PCI_EXT_CAP_ID_DSN,
  PCI_HEADER_TYPE,
  PCI_HEADER_TYPE_MULTI_FUNCTION,
  PCI_INTERRUPT_LINE,
  PCI_INTERRUPT_PIN,
  PCI_NUM_BARS,
  PCI_NUM_REGIONS,
  PCI_REVISION_ID,
  PCI_ROM_ADDRESS,
  PCI_ROM_ADDRESS_ENABLE,
  PCI_ROM_SLOT,
  PCI_STATUS,
  PCI_STATUS_CAP_LIST,
  PCI_STATUS_INTERRUPT,
  PCI_STD_HEADER_SIZEOF,
  PCI_SUBSYSTEM_ID,
  PCI_SUBSYSTEM_VENDOR_ID,
  PCI_VENDOR_ID,
} from './regs';
import { checkPciSavedState, type PciSavedState } from './saved-state';

/** What a device class says about itself (QEMU `PCIDeviceClass` fields). */
export interface PciIdentity {
  vendorId: number;
  deviceId: number;
  /** 24-bit class code: base class << 16 | sub-class << 8 | prog-if. */
  classCode: number;
  revision?: number;
  subsystemVendorId?: number;
  subsystemId?: number;
  /** 1-4 = INTA-INTD, 0 = no INTx (default 1). */
  interruptPin?: number;
  /** PCI Express function: 4 KiB config space (default false). */
  express?: boolean;
}

/** QEMU's "any id" value for the x-pci-* override properties: keep the class's id. */
export const PCI_ANY_ID = 0xffffffff;

const DEVFN_SYNTAX = /^([0-9a-f]{1,2})(?:\.([0-7]))?$/i;

/** `addr` property: `slot[.fn]` in hex (QEMU `addr=04.0`), a devfn number, or -1/`auto`. */
export const devfnProperty = prop.custom<number>({
  typeName: 'int32',
  description: 'Slot and optional function number, example: 06.0 or 06',
  default: -1,
  parse(input) {
    if (typeof input === 'number') {
      if (!Number.isInteger(input) || input < -1 || input >= PCI_DEVFN_MAX) {
        throw new RangeError(`devfn ${input} out of range -1..255`);
      }
      return input;
    }
    if (typeof input !== 'string') throw new TypeError(`expected slot.fn, got ${typeof input}`);
    const s = input.trim();
    if (s === 'auto' || s === '-1') return -1;
    const m = DEVFN_SYNTAX.exec(s);
    if (m === null) throw new TypeError(`'${input}' is not a PCI address (slot[.fn], hex, e.g. 04.0)`);
    const slot = Number.parseInt(m[1] as string, 16);
    if (slot > 0x1f) throw new RangeError(`slot ${hex(slot)} out of range (0x00-0x1f)`);
    return (slot << 3) | Number(m[2] ?? 0);
  },
  format: (v) => (v < 0 ? '-1' : formatDevfn(v)),
});

const idOverride = (what: string) =>
  prop.uint32({
    default: PCI_ANY_ID,
    description: `override the ${what} (0-0xffff; 0xffffffff keeps the class value)`,
  });

/** Properties every PCI device has (QEMU `pci_props` subset plus the vfio-pci id overrides). */
export const pciCommonProperties = {
  addr: devfnProperty,
  multifunction: prop.bool({ default: false, description: 'set the multi-function bit in the header type' }),
  rombar: prop.uint32({ default: 1, description: 'expose the option ROM as a BAR (0 = hide it)' }),
  'x-pci-vendor-id': idOverride('vendor ID'),
  'x-pci-device-id': idOverride('device ID'),
  'x-pci-sub-vendor-id': idOverride('subsystem vendor ID'),
  'x-pci-sub-device-id': idOverride('subsystem ID'),
} as const;

/** Schema type of {@link pciCommonProperties}. */
export type PciCommonProperties = typeof pciCommonProperties;

/** What a PCI device constructor receives. */
export type PciDeviceInit<S extends PropertySchema = PropertySchema> = DeviceInit<S & PciCommonProperties>;

/** Definition accepted by {@link definePciDeviceClass}. */
export interface PciDeviceClassDefinition<S extends PropertySchema> {
  name: string;
  description: string;
  category?: string;
  hotpluggable?: boolean;
  /** Device-specific properties; the common PCI ones are added. */
  properties?: S;
  create(init: PciDeviceInit<S>): PciDevice;
}

/** Builds a registrable DeviceClass for a PCI device type (bus type `PCI`, common PCI properties). */
export function definePciDeviceClass<S extends PropertySchema = Record<never, never>>(
  def: PciDeviceClassDefinition<S>,
): DeviceClass<S & PciCommonProperties> {
  const properties = { ...pciCommonProperties, ...(def.properties ?? {}) } as S & PciCommonProperties;
  return {
    name: def.name,
    description: def.description,
    busType: 'PCI',
    properties,
    ...(def.category === undefined ? {} : { category: def.category }),
    ...(def.hotpluggable === undefined ? {} : { hotpluggable: def.hotpluggable }),
    create: (init) => def.create(init),
  };
}

/** One region as the vfio-user server enumerates it. */
export interface PciRegionInfo {
  /** 0-5 = BAR, 6 = ROM. */
  index: number;
  kind: BarKind;
  size: bigint;
  prefetchable: boolean;
  bar: PciBar;
}

const SPACE_64 = 1n << 64n;
const U64_MAX = SPACE_64 - 1n;

/** Base class of every PCI function. */
export abstract class PciDevice extends Device {
  /** Config space (4 KiB for PCI Express functions, else 256 bytes). */
  readonly config: ConfigSpace;
  /** Identity from the class, with property overrides applied at realize. */
  readonly identity: Readonly<Required<PciIdentity>>;
  readonly #bars: (PciBar | undefined)[] = new Array(PCI_NUM_REGIONS).fill(undefined);
  #bus: PciRootBus | undefined;
  #devfn = -1;
  #busMasterRoot: MemoryRegion | undefined;
  #busMasterAlias: MemoryRegion | undefined;
  #busMasterAs: AddressSpace | undefined;
  #irqLevel = false;
  #sinkLevel = false;
  #reportedIntxDisabled = false;
  #msi: MsiCapability | undefined;
  #msix: MsixCapability | undefined;
  #pm: PmCapability | undefined;
  #pcie: PcieCapability | undefined;
  readonly #host: CapabilityHost;

  constructor(init: DeviceInit, identity: PciIdentity) {
    super(init);
    const pin = identity.interruptPin ?? 1;
    if (!Number.isInteger(pin) || pin < 0 || pin > 4) {
      throw new PciError('invalid-interrupt-pin', `${init.driver}: interrupt pin ${pin} must be 0-4`);
    }
    this.identity = {
      vendorId: identity.vendorId,
      deviceId: identity.deviceId,
      classCode: identity.classCode,
      revision: identity.revision ?? 0,
      subsystemVendorId: identity.subsystemVendorId ?? 0,
      subsystemId: identity.subsystemId ?? 0,
      interruptPin: pin,
      express: identity.express ?? false,
    };
    this.config = new ConfigSpace(this.identity.express ? PCI_CFG_SPACE_EXP_SIZE : PCI_CFG_SPACE_SIZE);
    const self = this;
    this.#host = {
      config: this.config,
      get label() {
        return self.#label;
      },
      sendMessage: (kind, vector, message) => this.#sendMessage(kind, vector, message),
      reportIrqState: (event) => this.#reportIrqState(event),
      deassertIntx: () => this.#deassertIntx(),
    };
  }

  // ---- identity and placement ----------------------------------------------------------------

  /** Requested devfn from the `addr` property (-1 = automatic). */
  get requestedDevfn(): number {
    return (this.getProperty('addr') as number | undefined) ?? -1;
  }

  /** `multifunction` property. */
  get multifunction(): boolean {
    return (this.getProperty('multifunction') as boolean | undefined) ?? false;
  }

  /** The root bus (throws `not-realized` before realize). */
  get bus(): PciRootBus {
    if (this.#bus === undefined) throw this.#notRealized('bus');
    return this.#bus;
  }

  /** Device/function number on the bus (-1 before realize). */
  get devfn(): number {
    return this.#devfn;
  }

  /** Config space size: 256, or 4096 for PCI Express. */
  get configSize(): number {
    return this.config.size;
  }

  get msi(): MsiCapability | undefined {
    return this.#msi;
  }
  get msix(): MsixCapability | undefined {
    return this.#msix;
  }
  get pm(): PmCapability | undefined {
    return this.#pm;
  }
  get pcie(): PcieCapability | undefined {
    return this.#pcie;
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  /** Device-specific realize: register BARs and capabilities here. */
  protected realizePci(): void {}
  /** Device-specific unrealize: release what realizePci took (BARs/capabilities are released by the base). */
  protected unrealizePci(): void {}
  /** Device-specific reset, after the PCI core has reset config space and capabilities. */
  protected resetPci(_kind: ResetKind): void {}
  /** Hook after the PCI core processed a config write (QEMU devices' `config_write` tail). */
  protected configWritten(_offset: number, _value: number, _size: ConfigAccessSize): void {}
  /** Hook to adjust a config read (dynamic registers); returns the value to give. */
  protected configReadHook(_offset: number, _size: ConfigAccessSize, value: number): number {
    return value;
  }

  protected override onRealize(): void {
    const bus = this.parentBus;
    if (!(bus instanceof PciRootBus)) {
      throw new QdevError('wrong-bus-type', `${this.#label}: a PCI device must sit on a PCI root bus`, {
        driver: this.driver,
        ...(bus === undefined ? {} : { busId: bus.id }),
      });
    }
    this.#checkOverrides();
    this.#bus = bus;
    this.#devfn = bus.claimDevfn(this);
    try {
      this.#initHeader();
      const ctx = bus.memoryContext;
      this.#busMasterRoot = MemoryRegion.container(`${this.#label} bus-master-container`, SPACE_64, {
        owner: this,
      });
      this.#busMasterAlias = MemoryRegion.alias(`${this.#label} bus-master`, bus.dmaEntry, 0n, SPACE_64, {
        owner: this,
      });
      this.#busMasterAlias.setEnabled(false);
      this.#busMasterRoot.addSubregion(0n, this.#busMasterAlias);
      this.#busMasterAs = ctx.createAddressSpace(`${this.#label} bus-master`, this.#busMasterRoot);
      this.realizePci();
      this.updateMappings();
    } catch (e) {
      this.#teardown();
      throw e;
    }
  }

  protected override onUnrealize(): void {
    this.unrealizePci();
    this.#teardown();
  }

  protected override onReset(kind: ResetKind): void {
    const cfg = this.config;
    this.#deassertIntx();
    // QEMU pci_do_device_reset: every software-changeable Command/Status bit back to 0.
    const clear = (off: number) =>
      cfg.setWord(off, cfg.getWord(off) & ~(wordOf(cfg.wmask, off) | wordOf(cfg.w1cmask, off)));
    clear(PCI_COMMAND);
    clear(PCI_STATUS);
    cfg.setByte(PCI_CACHE_LINE_SIZE, 0);
    cfg.setByte(PCI_INTERRUPT_LINE, 0);
    for (const bar of this.#bars) {
      if (bar === undefined) continue;
      cfg.setLong(bar.configOffset, bar.typeBits);
      if (bar.kind === 'mem64') cfg.setLong(bar.configOffset + 4, 0);
    }
    this.#msi?.reset();
    this.#msix?.reset();
    this.#pm?.reset();
    this.#pcie?.reset();
    this.#busMasterAlias?.setEnabled(false);
    this.#reportIntxDisable();
    if (this.realized) this.updateMappings();
    this.resetPci(kind);
  }

  // ---- BARs ----------------------------------------------------------------------------------

  /**
   * Registers BAR `index` (QEMU `pci_register_bar`): the register gets its type bits and a write
   * mask of `~(size-1)` (over both dwords for a 64-bit BAR). Call from `realizePci`.
   */
  registerBar(index: number, def: BarDefinition): PciBar {
    const bus = this.bus;
    if (!Number.isInteger(index) || index < 0 || index >= PCI_NUM_BARS) {
      throw new PciError('invalid-bar', `${this.#label}: BAR index ${index} must be 0-5`, {
        barIndex: index,
      });
    }
    const kind = def.kind;
    if (kind !== 'io' && kind !== 'mem32' && kind !== 'mem64') {
      throw new PciError(
        'invalid-bar',
        `${this.#label}: BAR ${index} kind '${String(kind)}' must be io, mem32 or mem64`,
        {
          barIndex: index,
        },
      );
    }
    if (kind === 'mem64' && index === PCI_NUM_BARS - 1) {
      throw new PciError('invalid-bar', `${this.#label}: a 64-bit BAR cannot start at BAR 5`, {
        barIndex: index,
      });
    }
    if (this.#bars[index] !== undefined || (index > 0 && this.#bars[index - 1]?.kind === 'mem64')) {
      throw new PciError('bar-in-use', `${this.#label}: BAR ${index} is already registered`, {
        barIndex: index,
      });
    }
    if (kind === 'mem64' && this.#bars[index + 1] !== undefined) {
      throw new PciError(
        'bar-in-use',
        `${this.#label}: BAR ${index + 1} (upper half of 64-bit BAR ${index}) is in use`,
        {
          barIndex: index,
        },
      );
    }
    if (kind === 'io' && def.prefetchable) {
      throw new PciError('invalid-bar', `${this.#label}: an IO BAR cannot be prefetchable`, {
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
      this.#label,
    );
    this.#bars[index] = bar;
    const cfg = this.config;
    const mask = ~(bar.size - 1n) & U64_MAX;
    cfg.setLong(bar.configOffset, bar.typeBits);
    cfg.setMask(cfg.wmask, bar.configOffset, Number(mask & 0xffffffffn), 4);
    if (kind === 'mem64') {
      cfg.setLong(bar.configOffset + 4, 0);
      cfg.setMask(cfg.wmask, bar.configOffset + 4, Number(mask >> 32n), 4);
    }
    if (kind === 'io') cfg.setMask(cfg.wmask, bar.configOffset, Number(mask & 0xfffffffcn), 4);
    if (this.realized) this.updateMappings();
    return bar;
  }

  /**
   * Registers the expansion ROM (region kind `rom`, or any region; size a power of two >= 2 KiB).
   * With the `rombar=0` property the ROM is not exposed (register reads 0), as in QEMU.
   */
  registerRom(region: MemoryRegion): PciBar | undefined {
    const bus = this.bus;
    if ((this.getProperty('rombar') as number | undefined) === 0) return undefined;
    if (this.#bars[PCI_ROM_SLOT] !== undefined) {
      throw new PciError('bar-in-use', `${this.#label}: expansion ROM already registered`, {
        barIndex: PCI_ROM_SLOT,
      });
    }
    checkBarSize(PCI_ROM_SLOT, 'rom', region.size);
    const bar = new PciBar(PCI_ROM_SLOT, 'rom', false, region, bus.memoryContext, this.#label);
    this.#bars[PCI_ROM_SLOT] = bar;
    const cfg = this.config;
    cfg.setLong(PCI_ROM_ADDRESS, 0);
    cfg.setMask(cfg.wmask, PCI_ROM_ADDRESS, Number((~(bar.size - 1n) & 0xffffffffn) | 1n), 4);
    if (this.realized) this.updateMappings();
    return bar;
  }

  /** Registered BAR or ROM (index 6) or `undefined`. */
  bar(index: number): PciBar | undefined {
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
  barAddress(index: number): bigint | undefined {
    const bar = this.#bars[index];
    if (bar === undefined) return undefined;
    const cfg = this.config;
    const cmd = cfg.getWord(PCI_COMMAND);
    const size = bar.size;
    const sizeMask = ~(size - 1n) & U64_MAX;
    if (bar.kind === 'io') {
      if ((cmd & PCI_COMMAND_IO) === 0) return undefined;
      const addr = BigInt(cfg.getLong(bar.configOffset)) & sizeMask;
      const last = addr + size - 1n;
      if (last <= addr || last >= 0xffffffffn || (addr === 0n && !this.bus.allowZeroAddress))
        return undefined;
      return addr;
    }
    if ((cmd & PCI_COMMAND_MEMORY) === 0) return undefined;
    let raw = BigInt(cfg.getLong(bar.configOffset));
    if (bar.kind === 'mem64') raw |= BigInt(cfg.getLong(bar.configOffset + 4)) << 32n;
    if (bar.kind === 'rom' && (raw & BigInt(PCI_ROM_ADDRESS_ENABLE)) === 0n) return undefined;
    const addr = raw & sizeMask;
    const last = addr + size - 1n;
    if (last <= addr || last === U64_MAX || (addr === 0n && !this.bus.allowZeroAddress)) return undefined;
    if (bar.kind !== 'mem64' && last >= 0xffffffffn) return undefined;
    return addr;
  }

  /**
   * Re-evaluates every BAR's mapping and moves, maps or unmaps it in the bus's memory or IO space,
   * in one memory transaction (QEMU `pci_update_mappings`). Config writes call it; device code
   * only needs it after changing BAR state behind the config path.
   */
  updateMappings(): void {
    const bus = this.bus;
    const off = this.#pm !== undefined && this.#pm.state !== 0;
    bus.memoryContext.transaction(() => {
      for (const bar of this.#bars) {
        if (bar === undefined) continue;
        const next = off || !this.realized ? undefined : this.barAddress(bar.index);
        const current = bar.mappedAddress;
        if (next === current) continue;
        const space = bar.isIo ? bus.ioSpace : bus.memorySpace;
        if (current !== undefined) space.removeSubregion(bar.busAlias);
        if (next !== undefined) space.addSubregionOverlap(next, bar.busAlias, 1);
        bar.setMappedAddress(next);
      }
    });
  }

  // ---- capabilities --------------------------------------------------------------------------

  /** Adds a raw standard capability (QEMU `pci_add_capability`); returns its offset. */
  addCapability(id: number, size: number, offset = 0): number {
    return this.config.addCapability(id, offset, size);
  }

  /** Adds a raw PCIe extended capability (QEMU `pcie_add_capability`); returns its offset. */
  addExtendedCapability(id: number, version: number, size: number, offset = 0): number {
    return this.config.addExtendedCapability(id, version, offset, size);
  }

  /** Adds an MSI capability (QEMU `msi_init`). */
  msiInit(opts: MsiOptions = {}): MsiCapability {
    if (this.#msi !== undefined)
      throw new PciError('invalid-capability', `${this.#label}: MSI already initialised`);
    this.#msi = new MsiCapability(this.#host, opts);
    return this.#msi;
  }

  /** Adds an MSI-X capability whose table/PBA overlay registered memory BARs (QEMU `msix_init`). */
  msixInit(opts: MsixOptions): MsixCapability {
    if (this.#msix !== undefined)
      throw new PciError('invalid-capability', `${this.#label}: MSI-X already initialised`);
    const tableBar = this.#bars[opts.tableBar];
    const pbaBar = this.#bars[opts.pbaBar];
    if (
      tableBar === undefined ||
      pbaBar === undefined ||
      opts.tableBar >= PCI_NUM_BARS ||
      opts.pbaBar >= PCI_NUM_BARS
    ) {
      throw new PciError(
        'invalid-bar',
        `${this.#label}: MSI-X table BAR ${opts.tableBar} / PBA BAR ${opts.pbaBar} must be registered BARs`,
        {
          barIndex: tableBar === undefined ? opts.tableBar : opts.pbaBar,
        },
      );
    }
    this.#msix = new MsixCapability(this.#host, opts, tableBar, pbaBar);
    return this.#msix;
  }

  /**
   * Registers a 32-bit memory BAR holding only the MSI-X table (at 0) and PBA (at half the BAR,
   * or right after the table), sized as QEMU's `msix_init_exclusive_bar`: 4 KiB, or the next
   * power of two that fits.
   */
  msixInitExclusiveBar(vectors: number, barIndex: number, capOffset = 0): MsixCapability {
    if (!Number.isInteger(vectors) || vectors < 1 || vectors > 2048) {
      throw new PciError(
        'invalid-capability',
        `${this.#label}: MSI-X table size ${vectors} must be in 1-2048`,
      );
    }
    let barSize = 4096;
    let pbaOffset = barSize / 2;
    const pbaSize = Math.ceil(vectors / 64) * 8;
    if (vectors * 16 > pbaOffset) pbaOffset = vectors * 16;
    if (pbaOffset + pbaSize > 4096) barSize = pbaOffset + pbaSize;
    barSize = 2 ** Math.ceil(Math.log2(barSize));
    const container = MemoryRegion.container(`${this.#label} msix`, BigInt(barSize), { owner: this });
    this.registerBar(barIndex, { kind: 'mem32', region: container });
    return this.msixInit({
      vectors,
      tableBar: barIndex,
      tableOffset: 0,
      pbaBar: barIndex,
      pbaOffset,
      offset: capOffset,
    });
  }

  /** Adds a Power Management capability (QEMU `pci_pm_init`). */
  pmInit(opts: PmOptions = {}): PmCapability {
    if (this.#pm !== undefined)
      throw new PciError('invalid-capability', `${this.#label}: PM already initialised`);
    this.#pm = new PmCapability(this.#host, opts);
    return this.#pm;
  }

  /** Adds a PCI Express v2 endpoint capability (needs `express: true` in the identity). */
  pcieInit(opts: PcieOptions = {}): PcieCapability {
    if (this.#pcie !== undefined)
      throw new PciError('invalid-capability', `${this.#label}: PCIe capability already initialised`);
    this.#pcie = new PcieCapability(this.#host, opts);
    return this.#pcie;
  }

  /** Adds a Device Serial Number extended capability (12 bytes). */
  pcieAddDeviceSerialNumber(serial: bigint, offset = 0): number {
    const at = this.config.addExtendedCapability(PCI_EXT_CAP_ID_DSN, 1, offset, 12);
    this.config.setLong(at + 4, Number(serial & 0xffffffffn));
    this.config.setLong(at + 8, Number((serial >> 32n) & 0xffffffffn));
    return at;
  }

  // ---- config space access (the vfio-user region 7 path) -----------------------------------------

  /** Reads 1, 2 or 4 bytes of config space (little-endian). */
  configRead(offset: number, size: ConfigAccessSize): number {
    checkAccessSize(size);
    const value = this.config.read(offset, size);
    return this.configReadHook(offset, size, value);
  }

  /**
   * Guest config write (QEMU `pci_default_write_config`): masks applied per byte, then side
   * effects: BAR mappings, bus mastering, INTx disable, MSI/MSI-X/PM/FLR.
   */
  configWrite(offset: number, value: number, size: ConfigAccessSize): void {
    checkAccessSize(size);
    this.config.checkRange(offset, size);
    const oldPm: PowerState = this.#pm?.state ?? 0;
    this.config.write(offset, value, size);
    if (!this.realized) return;
    let flr = false;
    const touches = (start: number, len: number) => offset < start + len && start < offset + size;
    const pmChanged = this.#pm?.configWritten(offset, size, oldPm) ?? false;
    if (
      touches(PCI_BASE_ADDRESS_0, 24) ||
      touches(PCI_ROM_ADDRESS, 4) ||
      touches(PCI_COMMAND, 1) ||
      pmChanged
    ) {
      this.updateMappings();
    }
    if (touches(PCI_COMMAND, 2)) {
      this.#busMasterAlias?.setEnabled((this.config.getWord(PCI_COMMAND) & PCI_COMMAND_MASTER) !== 0);
      this.#updateIntx();
      this.#reportIntxDisable();
    }
    this.#msi?.configWritten(offset, size);
    this.#msix?.configWritten(offset, size);
    flr = this.#pcie?.configWritten(offset, size) ?? false;
    this.configWritten(offset, value, size);
    if (flr) this.reset('warm');
  }

  /** Reads any byte range, split into naturally aligned accesses. */
  configReadBytes(offset: number, dest: Uint8Array): void {
    this.config.checkRange(offset, dest.length);
    forEachAlignedChunk(offset, dest.length, (at, size) => {
      const v = this.configRead(at, size);
      for (let i = 0; i < size; i++) dest[at - offset + i] = (v >>> (8 * i)) & 0xff;
    });
  }

  /** Writes any byte range, split into naturally aligned accesses (each with its side effects). */
  configWriteBytes(offset: number, data: Uint8Array): void {
    this.config.checkRange(offset, data.length);
    forEachAlignedChunk(offset, data.length, (at, size) => {
      let v = 0;
      for (let i = 0; i < size; i++) v |= (data[at - offset + i] as number) << (8 * i);
      this.configWrite(at, v >>> 0, size);
    });
  }

  // ---- saved state (migration, restarts) -----------------------------------------------------

  /** The guest-visible PCI state (a copy): config space, MSI-X table and PBA, INTx level. */
  savePciState(): PciSavedState {
    const msix = this.#msix;
    return {
      config: this.config.config.slice(),
      intxLevel: this.#irqLevel,
      msix: msix === undefined ? undefined : { table: msix.table.slice(), pba: msix.pba.slice() },
    };
  }

  /** Why `saved` does not fit this device (type, BAR layout, capabilities), or undefined. */
  checkPciState(saved: PciSavedState): string | undefined {
    return checkPciSavedState(this.config, this.#msi, this.#msix, this.identity.interruptPin !== 0, saved);
  }

  /**
   * Applies a state that {@link checkPciState} accepted, then redoes what the guest's config
   * writes did (QEMU's `pci_update_mappings` and MSI/MSI-X post-load): BAR mappings, bus
   * mastering, INTx, interrupt state reports; a pending MSI-X vector that is unmasked fires.
   */
  loadPciState(saved: PciSavedState): void {
    const reason = this.checkPciState(saved);
    if (reason !== undefined) throw new PciError('invalid-config-access', `${this.#label}: ${reason}`);
    this.config.config.set(saved.config);
    if (this.#msix !== undefined && saved.msix !== undefined) {
      this.#msix.table.set(saved.msix.table);
      this.#msix.pba.set(saved.msix.pba);
    }
    this.#irqLevel = saved.intxLevel;
    if (!this.realized) return;
    this.updateMappings();
    this.#busMasterAlias?.setEnabled((this.config.getWord(PCI_COMMAND) & PCI_COMMAND_MASTER) !== 0);
    this.#updateIntx();
    this.#reportIntxDisable();
    this.#msi?.configWritten(0, this.config.size);
    this.#msix?.configWritten(0, this.config.size);
  }

  // ---- interrupts ----------------------------------------------------------------------------

  /** Counts for GET_IRQ_INFO. */
  irqInfo(): IrqInfo {
    const pin = this.identity.interruptPin;
    return {
      intxPin: pin,
      intxCount: pin === 0 ? 0 : 1,
      msiVectors: this.#msi?.vectorsCapable ?? 0,
      msixVectors: this.#msix?.vectors ?? 0,
    };
  }

  /** Current device INTx level (before INTx-disable gating). */
  get intxLevel(): boolean {
    return this.#irqLevel;
  }

  /** Level as the bus sees it: asserted and not disabled by Command.INTX_DISABLE. */
  get intxBusLevel(): boolean {
    return this.#sinkLevel;
  }

  /**
   * Sets the INTx level (QEMU `pci_set_irq`): Status.INTERRUPT follows the level; the bus sees it
   * unless Command.INTX_DISABLE is set.
   */
  setIrq(level: boolean): void {
    if (this.identity.interruptPin === 0) {
      throw new PciError('invalid-interrupt-pin', `${this.#label}: device has no interrupt pin`);
    }
    if (level === this.#irqLevel) return;
    this.#irqLevel = level;
    const st = this.config.getWord(PCI_STATUS);
    this.config.setWord(PCI_STATUS, level ? st | PCI_STATUS_INTERRUPT : st & ~PCI_STATUS_INTERRUPT);
    this.#updateIntx();
  }

  /** Raises INTx. */
  intxAssert(): void {
    this.setIrq(true);
  }

  /** Lowers INTx. */
  intxDeassert(): void {
    this.setIrq(false);
  }

  /** Fires MSI vector `v` honouring enable, allocation and masking. */
  msiNotify(vector: number): MsiOutcome {
    if (this.#msi === undefined)
      throw new PciError('invalid-vector', `${this.#label}: no MSI capability`, { vector });
    return this.#msi.notify(vector);
  }

  /** Fires MSI-X vector `v` honouring enable, function mask and entry mask (else pending). */
  msixNotify(vector: number): MsiOutcome {
    if (this.#msix === undefined)
      throw new PciError('invalid-vector', `${this.#label}: no MSI-X capability`, { vector });
    return this.#msix.notify(vector);
  }

  // ---- DMA -----------------------------------------------------------------------------------

  /**
   * The device's DMA view: an alias of the bus DMA space (or its IOMMU), enabled only while
   * Command.BUS_MASTER is set. With it off every access is a decode error (reads give zeros).
   */
  get busMasterAddressSpace(): AddressSpace {
    if (this.#busMasterAs === undefined) throw this.#notRealized('DMA');
    return this.#busMasterAs;
  }

  /** Whether Command.BUS_MASTER is set. */
  get busMasterEnabled(): boolean {
    return (this.config.getWord(PCI_COMMAND) & PCI_COMMAND_MASTER) !== 0;
  }

  /**
   * DMA read (QEMU `pci_dma_read`): synchronous copy when the range is RAM, else asynchronous
   * (regions served by messages to the client). Unassigned or blocked ranges read as zeros; RAM
   * whose backing was lost (client memory truncated under its mapping) fails with `access-error`.
   */
  dmaRead(address: bigint, dest: Uint8Array): Promise<MemTxResult> {
    const as = this.busMasterAddressSpace;
    const done = as.readRam(address, dest);
    return done !== undefined ? Promise.resolve(done) : as.readAsync(address, dest);
  }

  /** DMA write: synchronous when the range is RAM (dirty tracking applies), else asynchronous. */
  dmaWrite(address: bigint, data: Uint8Array): Promise<MemTxResult> {
    const as = this.busMasterAddressSpace;
    const done = as.writeRam(address, data);
    return done !== undefined ? Promise.resolve(done) : as.writeAsync(address, data);
  }

  /** Synchronous DMA read; ranges served asynchronously fail with `access-error`. */
  dmaReadSync(address: bigint, dest: Uint8Array): MemTxResult {
    return this.busMasterAddressSpace.read(address, dest);
  }

  /** Synchronous DMA write; ranges served asynchronously fail with `access-error`. */
  dmaWriteSync(address: bigint, data: Uint8Array): MemTxResult {
    return this.busMasterAddressSpace.write(address, data);
  }

  /** Reads a little-endian u8/u16/u32 by DMA (zero on error). */
  async dmaReadUint(address: bigint, size: 1 | 2 | 4): Promise<number> {
    const buf = new Uint8Array(size);
    await this.dmaRead(address, buf);
    const dv = new DataView(buf.buffer);
    return size === 4 ? dv.getUint32(0, true) : size === 2 ? dv.getUint16(0, true) : dv.getUint8(0);
  }

  /** Reads a little-endian u64 by DMA (zero on error). */
  async dmaReadU64(address: bigint): Promise<bigint> {
    const buf = new Uint8Array(8);
    await this.dmaRead(address, buf);
    return new DataView(buf.buffer).getBigUint64(0, true);
  }

  /** Writes a little-endian u8/u16/u32 by DMA. */
  dmaWriteUint(address: bigint, value: number, size: 1 | 2 | 4): Promise<MemTxResult> {
    const buf = new Uint8Array(size);
    const dv = new DataView(buf.buffer);
    if (size === 4) dv.setUint32(0, value >>> 0, true);
    else if (size === 2) dv.setUint16(0, value & 0xffff, true);
    else dv.setUint8(0, value & 0xff);
    return this.dmaWrite(address, buf);
  }

  /** Writes a little-endian u64 by DMA. */
  dmaWriteU64(address: bigint, value: bigint): Promise<MemTxResult> {
    const buf = new Uint8Array(8);
    new DataView(buf.buffer).setBigUint64(0, value & U64_MAX, true);
    return this.dmaWrite(address, buf);
  }

  // ---- introspection -------------------------------------------------------------------------

  override qtreeDetails(): string[] {
    const id = this.identity;
    const classWord = this.config.getWord(0x0a);
    const lines = [
      `class Class ${hex(classWord, 4).slice(2)}, addr 00:${this.#devfn < 0 ? '??.?' : formatDevfn(this.#devfn)}, pci id ${hex(
        this.config.getWord(PCI_VENDOR_ID),
        4,
      ).slice(
        2,
      )}:${hex(this.config.getWord(PCI_DEVICE_ID), 4).slice(2)} (sub ${hex(id.subsystemVendorId, 4).slice(2)}:${hex(
        id.subsystemId,
        4,
      ).slice(2)})`,
    ];
    for (const bar of this.#bars) {
      if (bar === undefined) continue;
      const name = bar.index === PCI_ROM_SLOT ? 'rom' : `bar ${bar.index}`;
      const at = bar.mappedAddress;
      const where = at === undefined ? 'unmapped' : `${hex(at)} [${hex(at + bar.size - 1n)}]`;
      lines.push(`${name}: ${bar.isIo ? 'i/o' : 'mem'} at ${where}`);
    }
    return lines;
  }

  // ---- internals -----------------------------------------------------------------------------

  get #label(): string {
    return this.id === undefined ? this.driver : `${this.driver} '${this.id}'`;
  }

  #checkOverrides(): void {
    for (const name of ['x-pci-vendor-id', 'x-pci-device-id', 'x-pci-sub-vendor-id', 'x-pci-sub-device-id']) {
      const v = this.getProperty(name) as number | undefined;
      if (v !== undefined && v !== PCI_ANY_ID && v > 0xffff) {
        throw new QdevError(
          'property-out-of-range',
          `property '${this.driver}.${name}': ${hex(v)} is not a 16-bit id`,
          {
            driver: this.driver,
            property: name,
            value: String(v),
          },
        );
      }
    }
  }

  #override(name: string, fallback: number): number {
    const v = this.getProperty(name) as number | undefined;
    return v === undefined || v === PCI_ANY_ID ? fallback : v;
  }

  #initHeader(): void {
    const cfg = this.config;
    const id = this.identity;
    for (const a of [cfg.config, cfg.wmask, cfg.w1cmask, cfg.cmask, cfg.used]) a.fill(0);
    cfg.setWord(PCI_VENDOR_ID, this.#override('x-pci-vendor-id', id.vendorId));
    cfg.setWord(PCI_DEVICE_ID, this.#override('x-pci-device-id', id.deviceId));
    cfg.setByte(PCI_REVISION_ID, id.revision);
    cfg.setByte(PCI_CLASS_PROG, id.classCode & 0xff);
    cfg.setWord(0x0a, (id.classCode >> 8) & 0xffff);
    cfg.setByte(PCI_HEADER_TYPE, this.multifunction ? PCI_HEADER_TYPE_MULTI_FUNCTION : 0);
    cfg.setWord(PCI_SUBSYSTEM_VENDOR_ID, this.#override('x-pci-sub-vendor-id', id.subsystemVendorId));
    cfg.setWord(PCI_SUBSYSTEM_ID, this.#override('x-pci-sub-device-id', id.subsystemId));
    cfg.setByte(PCI_INTERRUPT_PIN, id.interruptPin);
    // QEMU pci_init_wmask / pci_init_w1cmask / pci_init_cmask.
    cfg.setMask(
      cfg.wmask,
      PCI_COMMAND,
      PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE | PCI_COMMAND_SERR,
      2,
    );
    cfg.wmask[PCI_CACHE_LINE_SIZE] = 0xff;
    cfg.wmask[PCI_INTERRUPT_LINE] = 0xff;
    cfg.setMask(cfg.w1cmask, PCI_STATUS, 0xf900, 2);
    cfg.wmask.fill(0xff, PCI_STD_HEADER_SIZEOF, cfg.size);
    if (cfg.isExpress) cfg.wmask.fill(0, PCI_CFG_SPACE_SIZE, PCI_CFG_SPACE_SIZE + 4);
    cfg.cmask.fill(0xff, PCI_VENDOR_ID, PCI_COMMAND);
    cfg.cmask.fill(0xff, PCI_REVISION_ID, PCI_CACHE_LINE_SIZE);
    cfg.cmask[PCI_HEADER_TYPE] = 0xff;
    cfg.setMask(cfg.cmask, PCI_STATUS, PCI_STATUS_CAP_LIST, 2);
    this.#irqLevel = false;
    this.#sinkLevel = false;
    this.#reportedIntxDisabled = false;
  }

  #teardown(): void {
    const bus = this.#bus;
    if (bus === undefined) return;
    bus.memoryContext.transaction(() => {
      for (const bar of this.#bars) {
        if (bar?.mappedAddress === undefined) continue;
        (bar.isIo ? bus.ioSpace : bus.memorySpace).removeSubregion(bar.busAlias);
        bar.setMappedAddress(undefined);
      }
      this.#msix?.uninstall();
      for (const bar of this.#bars) if (bar !== undefined) bar.root.removeSubregion(bar.region);
    });
    for (const bar of this.#bars) bar?.addressSpace.destroy();
    this.#busMasterAs?.destroy();
    if (this.#sinkLevel) bus.interruptSink?.intx(this, false);
    this.#bars.fill(undefined);
    this.#msi = undefined;
    this.#msix = undefined;
    this.#pm = undefined;
    this.#pcie = undefined;
    this.#busMasterAs = undefined;
    this.#busMasterAlias = undefined;
    this.#busMasterRoot = undefined;
    this.#irqLevel = false;
    this.#sinkLevel = false;
    bus.releaseDevfn(this);
    this.#devfn = -1;
    this.#bus = undefined;
  }

  #intxDisabled(): boolean {
    return (this.config.getWord(PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE) !== 0;
  }

  #updateIntx(): void {
    const level = this.#irqLevel && !this.#intxDisabled();
    if (level === this.#sinkLevel) return;
    this.#sinkLevel = level;
    this.#bus?.interruptSink?.intx(this, level);
  }

  #reportIntxDisable(): void {
    const disabled = this.#intxDisabled();
    if (disabled === this.#reportedIntxDisabled) return;
    this.#reportedIntxDisabled = disabled;
    this.#reportIrqState({ kind: 'intx-disable', disabled });
  }

  #deassertIntx(): void {
    if (this.identity.interruptPin !== 0) this.setIrq(false);
  }

  #sendMessage(kind: 'msi' | 'msix', vector: number, message: MsiMessage): MsiOutcome {
    const bus = this.#bus;
    if (bus === undefined) return 'disabled';
    if (bus.msiRequiresBusMaster && !this.busMasterEnabled) return 'blocked';
    const sink: InterruptSink | undefined = bus.interruptSink;
    if (kind === 'msi') sink?.msi(this, vector, message);
    else sink?.msix(this, vector, message);
    return 'delivered';
  }

  #reportIrqState(event: IrqStateEvent): void {
    this.#bus?.interruptSink?.irqStateChanged?.(this, event);
  }

  #notRealized(what: string): PciError {
    return new PciError(
      'not-realized',
      `${this.#label}: ${what} is only available while the device is realized`,
      {
        ...(this.id === undefined ? {} : { deviceId: this.id }),
      },
    );
  }
}

function wordOf(mask: Uint8Array, off: number): number {
  return (mask[off] as number) | ((mask[off + 1] as number) << 8);
}

function checkAccessSize(size: number): void {
  if (size !== 1 && size !== 2 && size !== 4) {
    throw new PciError('invalid-config-access', `config access size must be 1, 2 or 4, got ${size}`);
  }
}

function forEachAlignedChunk(
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
