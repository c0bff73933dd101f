export { allocAligned, FallocateMode, fallocate } from './block-io';
export { errnoName, isSysError, SysError, type SysErrorCode, type SysErrorContext } from './errors';
export { EventFd, type EventFdOptions } from './event-fd';
export { type MapMode, type MapOptions, MappedRegion } from './mapped-region';
export {
  closeFd,
  closeFdsQuietly,
  createMemfd,
  type FdAccess,
  type MemfdOptions,
  OwnedFd,
  Seal,
} from './owned-fd';
export { listOpenFds } from './proc';
export {
  type ConnectOptions,
  type FdLike,
  type ListenOptions,
  type ReceivedChunk,
  UnixListener,
  UnixSocket,
} from './unix-socket';
