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
import type { BarDefinition, PciBar } from './bar';
import { BusMasterDma } from './bus-master-dma';
import type { CapabilityHost } from './capabilities/host';
import { MsiCapability, type MsiOptions } from './capabilities/msi';
import { MsixCapability, type MsixOptions, msixExclusiveBarLayout } from './capabilities/msix';
import { PcieCapability, type PcieOptions } from './capabilities/pcie';
import { PmCapability, type PmOptions, type PowerState } from './capabilities/pm';
import { type ConfigAccessSize, ConfigSpace, checkAccessSize, forEachAlignedChunk } from './config-space';
import { hex, PciError, QdevError } from './errors';
import type { InterruptSink, IrqInfo, IrqStateEvent, MsiMessage, MsiOutcome } from './interrupts';
import { IntxPin } from './intx';
import { PciBarSet, type PciRegionInfo } from './pci-bars';
import { formatDevfn, PciRootBus } from './pci-bus';
import { PCI_ANY_ID, type PciIdentity } from './pci-device-class';
import { Device, type DeviceInit, type ResetKind } from './qdev/device';
import {
  PCI_BASE_ADDRESS_0,
  PCI_CACHE_LINE_SIZE,
  PCI_CFG_SPACE_EXP_SIZE,
  PCI_CFG_SPACE_SIZE,
  PCI_CLASS_DEVICE,
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
  PCI_REVISION_ID,
  PCI_ROM_ADDRESS,
  PCI_ROM_SLOT,
  PCI_STATUS,
  PCI_STATUS_CAP_LIST,
  PCI_STATUS_DETECTED_PARITY,
  PCI_STATUS_PARITY,
  PCI_STATUS_REC_MASTER_ABORT,
  PCI_STATUS_REC_TARGET_ABORT,
  PCI_STATUS_SIG_SYSTEM_ERROR,
  PCI_STATUS_SIG_TARGET_ABORT,
  PCI_STD_HEADER_SIZEOF,
  PCI_SUBSYSTEM_ID,
  PCI_SUBSYSTEM_VENDOR_ID,
  PCI_VENDOR_ID,
} from './regs';
import { checkPciSavedState, type PciSavedState } from './saved-state';

const SPACE_64 = 1n << 64n;
const _U64_MAX = SPACE_64 - 1n;

/** Base class of every PCI function. */
export abstract class PciDevice extends Device {
  /** Config space (4 KiB for PCI Express functions, else 256 bytes). */
  readonly config: ConfigSpace;
  /** Identity from the class, with property overrides applied at realize. */
  readonly identity: Readonly<Required<PciIdentity>>;
  readonly #bars: PciBarSet;
  #bus: PciRootBus | undefined;
  #devfn = -1;
  #busMaster: BusMasterDma | undefined;
  readonly #intx: IntxPin;
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
    this.#bars = new PciBarSet({
      config: this.config,
      get label() {
        return self.#label;
      },
      get bus() {
        return self.bus;
      },
      get realized() {
        return self.realized;
      },
      romBarEnabled: () => (this.getProperty('rombar') as number | undefined) !== 0,
      poweredOff: () => this.#pm !== undefined && this.#pm.state !== 0,
    });
    this.#intx = new IntxPin({
      config: this.config,
      signal: (level) => this.#bus?.interruptSink?.intx(this, level),
      report: (event) => this.#reportIrqState(event),
    });
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
      this.#busMaster = new BusMasterDma(bus, this.#label, this);
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
    for (const bar of this.#bars.all()) {
      if (bar === undefined) continue;
      cfg.setLong(bar.configOffset, bar.typeBits);
      if (bar.kind === 'mem64') cfg.setLong(bar.configOffset + 4, 0);
    }
    this.#msi?.reset();
    this.#msix?.reset();
    this.#pm?.reset();
    this.#pcie?.reset();
    this.#busMaster?.setEnabled(false);
    this.#intx.reportDisable();
    if (this.realized) this.updateMappings();
    this.resetPci(kind);
  }

  /** Registers BAR `index` (QEMU `pci_register_bar`; see {@link PciBarSet.register}). */
  registerBar(index: number, def: BarDefinition): PciBar {
    return this.#bars.register(index, def);
  }

  /** Registers the expansion ROM, unless `rombar=0` (see {@link PciBarSet.registerRom}). */
  registerRom(region: MemoryRegion): PciBar | undefined {
    return this.#bars.registerRom(region);
  }

  /** Registered BAR or ROM (index 6) or `undefined`. */
  bar(index: number): PciBar | undefined {
    return this.#bars.get(index);
  }

  /** Every registered region (BARs, then ROM) for the server to enumerate. */
  regions(): PciRegionInfo[] {
    return this.#bars.regions();
  }

  /** Address BAR `index` decodes at under QEMU's `pci_bar_address` rules, or `undefined`. */
  barAddress(index: number): bigint | undefined {
    return this.#bars.address(index);
  }

  /** Re-maps every BAR as the config registers say (QEMU `pci_update_mappings`). */
  updateMappings(): void {
    this.#bars.updateMappings();
  }

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
    const tableBar = this.#bars.get(opts.tableBar);
    const pbaBar = this.#bars.get(opts.pbaBar);
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
    const { barSize, pbaOffset } = msixExclusiveBarLayout(vectors, this.#label);
    const container = MemoryRegion.container(`${this.#label} msix`, BigInt(barSize), { owner: this });
    this.registerBar(barIndex, { kind: 'mem32', region: container });
    const tableBar = barIndex;
    return this.msixInit({
      vectors,
      tableBar,
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
      this.#busMaster?.setEnabled(this.busMasterEnabled);
      this.#intx.update();
      this.#intx.reportDisable();
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

  /** The guest-visible PCI state (a copy): config space, MSI-X table and PBA, INTx level. */
  savePciState(): PciSavedState {
    const msix = this.#msix;
    return {
      config: this.config.config.slice(),
      intxLevel: this.#intx.level,
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
    this.#intx.restore(saved.intxLevel);
    if (!this.realized) return;
    this.updateMappings();
    this.#busMaster?.setEnabled(this.busMasterEnabled);
    this.#intx.update();
    this.#intx.reportDisable();
    this.#msi?.configWritten(0, this.config.size);
    this.#msix?.configWritten(0, this.config.size);
  }

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
    return this.#intx.level;
  }

  /** Level as the bus sees it: asserted and not disabled by Command.INTX_DISABLE. */
  get intxBusLevel(): boolean {
    return this.#intx.busLevel;
  }

  /**
   * Sets the INTx level (QEMU `pci_set_irq`): Status.INTERRUPT follows the level; the bus sees it
   * unless Command.INTX_DISABLE is set.
   */
  setIrq(level: boolean): void {
    if (this.identity.interruptPin === 0) {
      throw new PciError('invalid-interrupt-pin', `${this.#label}: device has no interrupt pin`);
    }
    this.#intx.set(level);
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

  /**
   * The device's DMA view: an alias of the bus DMA space (or its IOMMU), enabled only while
   * Command.BUS_MASTER is set. With it off every access is a decode error (reads give zeros).
   */
  get busMasterAddressSpace(): AddressSpace {
    return this.#dma().addressSpace;
  }

  /** Whether Command.BUS_MASTER is set. */
  get busMasterEnabled(): boolean {
    return (this.config.getWord(PCI_COMMAND) & PCI_COMMAND_MASTER) !== 0;
  }

  /** DMA read (QEMU `pci_dma_read`): synchronous when the range is RAM, else asynchronous. */
  dmaRead(address: bigint, dest: Uint8Array): Promise<MemTxResult> {
    return this.#dma().read(address, dest);
  }

  /** DMA write: synchronous when the range is RAM (dirty tracking applies), else asynchronous. */
  dmaWrite(address: bigint, data: Uint8Array): Promise<MemTxResult> {
    return this.#dma().write(address, data);
  }

  /** Synchronous DMA read; ranges served asynchronously fail with `access-error`. */
  dmaReadSync(address: bigint, dest: Uint8Array): MemTxResult {
    return this.#dma().addressSpace.read(address, dest);
  }

  /** Synchronous DMA write; ranges served asynchronously fail with `access-error`. */
  dmaWriteSync(address: bigint, data: Uint8Array): MemTxResult {
    return this.#dma().addressSpace.write(address, data);
  }

  /** Reads a little-endian u8/u16/u32 by DMA (zero on error). */
  dmaReadUint(address: bigint, size: 1 | 2 | 4): Promise<number> {
    return this.#dma().readUint(address, size);
  }

  /** Reads a little-endian u64 by DMA (zero on error). */
  dmaReadU64(address: bigint): Promise<bigint> {
    return this.#dma().readU64(address);
  }

  /** Writes a little-endian u8/u16/u32 by DMA. */
  dmaWriteUint(address: bigint, value: number, size: 1 | 2 | 4): Promise<MemTxResult> {
    return this.#dma().writeUint(address, value, size);
  }

  /** Writes a little-endian u64 by DMA. */
  dmaWriteU64(address: bigint, value: bigint): Promise<MemTxResult> {
    return this.#dma().writeU64(address, value);
  }

  override qtreeDetails(): string[] {
    const hex4 = (v: number) => v.toString(16).padStart(4, '0');
    const cfg = this.config;
    const addr = this.#devfn < 0 ? '??.?' : formatDevfn(this.#devfn);
    const ids = `${hex4(cfg.getWord(PCI_VENDOR_ID))}:${hex4(cfg.getWord(PCI_DEVICE_ID))}`;
    const sub = `${hex4(this.identity.subsystemVendorId)}:${hex4(this.identity.subsystemId)}`;
    const lines = [
      `class Class ${hex4(cfg.getWord(PCI_CLASS_DEVICE))}, addr 00:${addr}, pci id ${ids} (sub ${sub})`,
    ];
    for (const bar of this.#bars.all()) {
      const name = bar.index === PCI_ROM_SLOT ? 'rom' : `bar ${bar.index}`;
      const at = bar.mappedAddress;
      const where = at === undefined ? 'unmapped' : `${hex(at)} [${hex(at + bar.size - 1n)}]`;
      lines.push(`${name}: ${bar.isIo ? 'i/o' : 'mem'} at ${where}`);
    }
    return lines;
  }

  get #label(): string {
    return this.id === undefined ? this.driver : `${this.driver} '${this.id}'`;
  }

  #checkOverrides(): void {
    for (const name of ['x-pci-vendor-id', 'x-pci-device-id', 'x-pci-sub-vendor-id', 'x-pci-sub-device-id']) {
      const v = this.getProperty(name) as number | undefined;
      if (v !== undefined && v !== PCI_ANY_ID && v > 0xffff) {
        const context = { driver: this.driver, property: name, value: String(v) };
        const message = `property '${this.driver}.${name}': ${hex(v)} is not a 16-bit id`;
        throw new QdevError('property-out-of-range', message, context);
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
    cfg.setWord(PCI_CLASS_DEVICE, (id.classCode >> 8) & 0xffff);
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
    // QEMU pci_init_w1cmask: the error bits of Status are write-1-to-clear.
    cfg.setMask(
      cfg.w1cmask,
      PCI_STATUS,
      PCI_STATUS_PARITY |
        PCI_STATUS_SIG_TARGET_ABORT |
        PCI_STATUS_REC_TARGET_ABORT |
        PCI_STATUS_REC_MASTER_ABORT |
        PCI_STATUS_SIG_SYSTEM_ERROR |
        PCI_STATUS_DETECTED_PARITY,
      2,
    );
    cfg.wmask.fill(0xff, PCI_STD_HEADER_SIZEOF, cfg.size);
    if (cfg.isExpress) cfg.wmask.fill(0, PCI_CFG_SPACE_SIZE, PCI_CFG_SPACE_SIZE + 4);
    cfg.cmask.fill(0xff, PCI_VENDOR_ID, PCI_COMMAND);
    cfg.cmask.fill(0xff, PCI_REVISION_ID, PCI_CACHE_LINE_SIZE);
    cfg.cmask[PCI_HEADER_TYPE] = 0xff;
    cfg.setMask(cfg.cmask, PCI_STATUS, PCI_STATUS_CAP_LIST, 2);
    this.#intx.clear();
  }

  #teardown(): void {
    const bus = this.#bus;
    if (bus === undefined) return;
    bus.memoryContext.transaction(() => {
      for (const bar of this.#bars.all()) {
        if (bar?.mappedAddress === undefined) continue;
        (bar.isIo ? bus.ioSpace : bus.memorySpace).removeSubregion(bar.busAlias);
        bar.setMappedAddress(undefined);
      }
      this.#msix?.uninstall();
      for (const bar of this.#bars.all()) bar.root.removeSubregion(bar.region);
    });
    for (const bar of this.#bars.all()) bar.addressSpace.destroy();
    this.#busMaster?.destroy();
    if (this.#intx.busLevel) bus.interruptSink?.intx(this, false);
    this.#bars.clear();
    this.#msi = undefined;
    this.#msix = undefined;
    this.#pm = undefined;
    this.#pcie = undefined;
    this.#busMaster = undefined;
    this.#intx.clear();
    bus.releaseDevfn(this);
    this.#devfn = -1;
    this.#bus = undefined;
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

  #dma(): BusMasterDma {
    if (this.#busMaster === undefined) throw this.#notRealized('DMA');
    return this.#busMaster;
  }

  #notRealized(what: string): PciError {
    const context = this.id === undefined ? {} : { deviceId: this.id };
    return new PciError('not-realized', `${this.#label}: ${what} is only available while realized`, context);
  }
}

function wordOf(mask: Uint8Array, off: number): number {
  return (mask[off] as number) | ((mask[off + 1] as number) << 8);
}
