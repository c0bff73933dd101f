/**
 * @vfu/client: a vfio-user client (the VMM side) with a PCI helper on top: VERSION negotiation,
 * device/region/IRQ info, region access with an mmap fast path, DMA by fd or by message,
 * interrupts by eventfd, reset; BAR sizing and assignment, MSI/MSI-X setup, lspci formatting.
 */

/** Region and IRQ indices of vfio-pci, re-exported for callers of region and IRQ methods. */
export { VfioPciIrq, VfioPciRegion } from '@vfu/protocol';
export {
  type ClientEvents,
  type ClientOptions,
  clientErrorFrom,
  type DmaMapOptions,
  type InterruptEvent,
  type InterruptKind,
  type RegionWriteEntry,
  VfioUserClient,
} from './client';
export { type DmaMapping, DmaSpace } from './dma-space';
export {
  ClientError,
  type ClientErrorCode,
  type ClientErrorContext,
  isClientError,
  isVfioUserReplyError,
  VfioUserReplyError,
} from './errors';
export { GuestMemory, type GuestMemoryOptions } from './guest-memory';
export {
  barsFromConfig,
  className,
  formatLspciHex,
  formatLspciVerbose,
  formatSize,
  formatTitle,
  type LspciInput,
} from './lspci';
export {
  type AddressWindow,
  type BarAssignment,
  type BarKind,
  type BarWindows,
  capabilityName,
  cfg8,
  cfg16,
  cfg32,
  DEFAULT_BAR_WINDOWS,
  decodeBar,
  findCapability,
  interruptCapabilities,
  type MsiCapability,
  type MsixCapability,
  type PciBar,
  type PciCapability,
  type PciConfigHeader,
  parseConfigHeader,
  parseMsiCapability,
  parseMsixCapability,
  planBarAssignment,
  walkCapabilities,
} from './pci-config';
export { MSI_ADDRESS_BASE, PciDeviceHandle, type PciTarget, type SizedBar } from './pci-device';
export {
  checkRegionWriteReply,
  type DeviceInfo,
  decodeReply,
  deviceInfoFromReply,
  encodeRequestPayload,
  type IrqInfo,
  irqInfoFromReply,
  MAX_IRQ_INDICES,
  MAX_REGIONS,
  REGION_INFO_ARGSZ,
  REGION_INFO_SIZE,
  type RegionInfo,
  regionInfoFromReply,
  regionInfoNeedsRetry,
  regionName,
  regionReadData,
} from './replies';
