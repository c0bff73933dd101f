/** NVMe controller (`-device nvme`): the register-level core and its interfaces. */

export * from './constants';
export {
  type NvmeBarLayout,
  NvmeController,
  type NvmeControllerOptions,
  nvmeBarLayout,
} from './controller';
export { NvmeNamespace } from './namespace';
export type {
  NvmeBlockBackend,
  NvmeBlockWriteOptions,
  NvmeBlockWriteZeroesOptions,
  NvmeDma,
  NvmeInterruptMode,
  NvmeInterrupts,
  NvmeNamespaceConfig,
} from './types';
