export { AddressSpace } from './address-space';
export { isMemoryError, MemoryError, type MemoryErrorCode, type MemoryErrorContext } from './errors';
export { FlatView } from './flat-view';
export { MemoryContext } from './memory-context';
export {
  MemoryRegion,
  type MemoryRegionKind,
  type MemoryRegionOptions,
  type RamRegionOptions,
  type RomRegionOptions,
} from './memory-region';
export { dumpFlatView, dumpMemoryTree } from './mtree';
export type {
  AccessFault,
  AccessFaultReason,
  AccessSize,
  AsyncMemoryRegionOps,
  FlatRange,
  IommuOps,
  IommuPermissions,
  IommuTlbEntry,
  MemoryListener,
  MemoryRegionOps,
  MemoryRegionOps64,
  MemoryRegionSection,
  MemTxResult,
  MmioValidRules,
  MmioWrite64,
  UnassignedAccess,
} from './types';
