/**
 * `@vfu/nvme-driver`: a user-space NVMe host driver over vfio-user, for test harnesses, tools and
 * benchmarks that drive an NVMe controller from another process.
 */

export * from './constants';
export {
  type NvmeControllerInfo,
  NvmeDriver,
  type NvmeDriverOptions,
  type NvmeIoOptions,
  type NvmeNamespaceInfo,
} from './driver';
export {
  isNvmeDriverError,
  NvmeDriverError,
  type NvmeDriverErrorCode,
  type NvmeDriverErrorContext,
} from './errors';
export { type NvmeCompletion, QueuePair, type QueuePairInit } from './queue-pair';
