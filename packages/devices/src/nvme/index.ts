/** NVMe controller (`-device nvme`): the register-level core and its interfaces. */

export * from './constants';
export {
  type NvmeBarLayout,
  NvmeController,
  type NvmeControllerOptions,
  nvmeBarLayout,
} from './controller';
export { NvmeNamespace } from './namespace';
export { NvmeFunction, nvme, nvmeInterrupts, nvmeProperties } from './nvme';
export type {
  NvmeBlockBackend,
  NvmeDma,
  NvmeInterruptMode,
  NvmeInterrupts,
  NvmeNamespaceConfig,
} from './types';
