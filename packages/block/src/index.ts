export {
  type BlockBackend,
  BlockBackendBase,
  type BlockCapabilities,
  type CommonBackendOptions,
  DEFAULT_QUEUE_DEPTH,
  type WriteFlags,
  type WriteZeroesFlags,
} from './backend';
export {
  BLOCK_DRIVERS,
  type BlockDriverName,
  type BlockdevOptions,
  type BlockdevOptionsBase,
  type BlockdevOptionsFile,
  type BlockdevOptionsNbd,
  type BlockdevOptionsNullCo,
  isWellFormedNodeName,
  type NbdServerAddress,
  parseBlockdevOptions,
} from './blockdev-options';
export {
  type DiscardMode,
  FileBackend,
  type FileOptions,
  type FileSyscalls,
  nodeFileSyscalls,
} from './drivers/file';
export {
  NBD_DEFAULT_MAX_PAYLOAD,
  type NbdAddress,
  NbdConnection,
  type NbdExportInfo,
} from './drivers/nbd/connection';
export { NbdBackend, type NbdOptions } from './drivers/nbd/nbd';
export { NULL_CO_DEFAULT_SIZE, NullCoBackend, type NullCoOptions } from './drivers/null-co';
export { BlockError, type BlockErrorCode, type BlockErrorContext, errnoNameOf, isBlockError } from './errors';
export {
  copyIntoIoVector,
  type IoVector,
  ioVectorLength,
  segmentsOf,
  sliceIoVector,
  zeroIoVector,
} from './io-vector';
export { type KeyvalObject, parseKeyval } from './keyval';
export { InflightLimiter } from './limiter';
export { openBlockdev } from './open';
export {
  type BlockDeviceCacheInfo,
  type BlockDeviceInfo,
  type BlockInfo,
  type BlockNode,
  BlockNodeRegistry,
  type BlockNodeRegistryOptions,
  blockdevFilename,
} from './registry';
