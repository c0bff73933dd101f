/**
 * @vfu/pci: the qdev device tree (several parentless root buses, typed properties, a device type
 * registry) and the PCI device model (config space, BARs, capabilities, interrupts, DMA), with
 * every root bus owning its own memory, IO and DMA spaces.
 */
export { type BarDefinition, type BarKind, type BarMmapArea, PciBar } from './bar';
export { BusMasterDma } from './bus-master-dma';
export type { CapabilityHost } from './capabilities/host';
export { MsiCapability, type MsiOptions } from './capabilities/msi';
export { MsixCapability, type MsixOptions } from './capabilities/msix';
export { PcieCapability, type PcieDeviceType, type PcieOptions } from './capabilities/pcie';
export { PmCapability, type PmOptions, type PowerState } from './capabilities/pm';
export { type CapabilityEntry, type ConfigAccessSize, ConfigSpace } from './config-space';
export {
  isPciError,
  isQdevError,
  PciError,
  type PciErrorCode,
  type PciErrorContext,
  QdevError,
  type QdevErrorCode,
  type QdevErrorContext,
} from './errors';
export type { InterruptSink, IrqInfo, IrqStateEvent, MsiMessage, MsiOutcome } from './interrupts';
export { type IntxHost, IntxPin } from './intx';
export { formatLspciDump, type LspciDumpOptions } from './lspci-dump';
export { type PciBarHost, PciBarSet, type PciRegionInfo } from './pci-bars';
export {
  formatDevfn,
  PCI_DEVFN_MAX,
  type PciFunction,
  PciRootBus,
  type PciRootBusOptions,
} from './pci-bus';
export { PciDevice } from './pci-device';
export {
  definePciDeviceClass,
  devfnProperty,
  PCI_ANY_ID,
  type PciCommonProperties,
  type PciDeviceClassDefinition,
  type PciDeviceInit,
  type PciIdentity,
  pciCommonProperties,
} from './pci-device-class';
export {
  Bus,
  type BusOptions,
  checkId,
  Device,
  type DeviceInit,
  type HotplugHandler,
  type ResetKind,
  type RuntimeProperty,
  type StatusProperty,
} from './qdev/device';
export {
  type DeviceAddOptions,
  DeviceTree,
  type DeviceTreeOptions,
  type UnplugOutcome,
} from './qdev/device-tree';
export {
  type PropertyDef,
  type PropertyInput,
  type PropertySchema,
  type PropertyValue,
  type PropertyValues,
  parseDeviceOptions,
  parseProperty,
  prop,
  resolveProperties,
} from './qdev/properties';
export { type CreateDeviceOptions, type DeviceClass, DeviceTypeRegistry } from './qdev/registry';
export * as regs from './regs';
export { checkPciSavedState, type PciSavedState } from './saved-state';
