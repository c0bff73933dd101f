/**
 * @vfu/protocol: a pure vfio-user codec. Encodes, decodes and validates every message, frames
 * a byte stream with its fds, negotiates VERSION capabilities and describes messages.
 */
export {
  CAPABILITY_DEFAULTS,
  type NegotiatedCapabilities,
  negotiateCapabilities,
  negotiateClient,
  negotiateServer,
  parseCapabilities,
  type Role,
  serializeCapabilities,
  type VersionCapabilities,
  type VersionOffer,
} from './capabilities';
export {
  COMMAND_CODECS,
  type CommandCodecTable,
  type CommandPayloads,
  codecFor,
  type DecodeMessageOptions,
  decodeMessage,
  type ErrorReplyMessage,
  encodeErrorReply,
  encodeMessage,
  encodeReplyPayload,
  encodeRequestPayload,
  errorReplyFor,
  type Message,
  messageSize,
  type ReplyMessage,
  type ReplyMessageOf,
  type ReplyOf,
  type RequestMessage,
  type RequestMessageOf,
  type RequestOf,
} from './codec';
export type {
  CommandCodec,
  DecodeOptions,
  DescribedField,
  EmptyPayload,
  HeaderOnlyReply,
} from './codec-types';
export { COMMAND_NAMES, Command, commandName, commandSender, isCommand } from './command';
export type {
  DeviceFeatureData,
  DeviceFeaturePayload,
  DeviceFeatureReply,
  DeviceFeatureRequest,
  IovaRange,
} from './commands/device-feature';
export { deviceFeatureName } from './commands/device-feature';
export type { DeviceGetInfoReply, DeviceGetInfoRequest } from './commands/device-get-info';
export type { DeviceGetIrqInfoReply, DeviceGetIrqInfoRequest } from './commands/device-get-irq-info';
export type {
  DeviceGetRegionInfoReply,
  DeviceGetRegionInfoRequest,
  RegionInfoCapability,
  SparseMmapArea,
} from './commands/device-get-region-info';
export type {
  DeviceGetRegionIoFdsReply,
  DeviceGetRegionIoFdsRequest,
  IoFdSubRegion,
} from './commands/device-get-region-io-fds';
export type { DeviceResetReply, DeviceResetRequest } from './commands/device-reset';
export {
  type DeviceSetIrqsReply,
  type DeviceSetIrqsRequest,
  type IrqSetAction,
  type IrqSetDataType,
  irqSetFlags,
} from './commands/device-set-irqs';
export type { DmaAccess } from './commands/dma-access';
export type { DmaMapReply, DmaMapRequest } from './commands/dma-map';
export type { DmaReadReply, DmaReadRequest } from './commands/dma-read';
export type { DmaUnmapBitmapHeader, DmaUnmapReply, DmaUnmapRequest } from './commands/dma-unmap';
export type { DmaWriteReply, DmaWriteRequest } from './commands/dma-write';
export type { MigDataReadReply, MigDataReadRequest } from './commands/mig-data-read';
export type { MigDataWriteReply, MigDataWriteRequest } from './commands/mig-data-write';
export type { RegionAccess } from './commands/region-access';
export type { RegionReadReply, RegionReadRequest } from './commands/region-read';
export type { RegionWriteReply, RegionWriteRequest } from './commands/region-write';
export {
  REGION_WRITE_MULTI_MAX_DATA,
  type RegionWriteMultiEntry,
  type RegionWriteMultiReply,
  type RegionWriteMultiRequest,
} from './commands/region-write-multi';
export type { VersionPayload, VersionReply, VersionRequest } from './commands/version';
export {
  DeviceFeatureFlags,
  DeviceFeatureIndex,
  DeviceInfoFlags,
  DmaMapFlags,
  DmaUnmapFlags,
  IoFdType,
  IrqInfoFlags,
  IrqSetFlags,
  MigDeviceState,
  MigrationFlags,
  migDeviceStateName,
  RegionCapId,
  RegionInfoFlags,
  RegionType,
  VFIO_PCI_NUM_IRQS,
  VFIO_PCI_NUM_REGIONS,
  VfioPciIrq,
  VfioPciRegion,
  vfioPciIrqName,
  vfioPciRegionName,
} from './constants';
export { describe, type MessageDescription } from './describe';
// Errors, header, framer and receive limits: the `@vfu/protocol/framing` entry, whole.
export * from './framing';
export { dirtyBitmapSize, isPageDirty, migrationPath, setPageDirty } from './migration';
export { dataMessageSize, REGION_WRITE_MULTI_MAX_ENTRIES, StructSize } from './sizes';
