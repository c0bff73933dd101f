export { DEFAULT_INTEROP_CACHE_DIR, type InteropCache, resolveInteropCache } from './cache';
export {
  CONSOLE_PREFIX,
  type ConsoleEvent,
  ConsoleLineSplitter,
  type GuestCheck,
  parseConsoleLine,
  tailLines,
} from './console-protocol';
export { type CpioEntry, encodeCpioNewc } from './cpio';
export { InteropError, type InteropErrorCode, type InteropErrorContext, isInteropError } from './errors';
export {
  assertGuestPassed,
  formatGuestReport,
  type GuestRunOptions,
  type GuestRunResult,
  type GuestRunStatus,
  guestValue,
  type LogSource,
  type RunningGuest,
  runGuest,
} from './guest-runner';
export * from './guest-script';
export {
  type ManagedProcess,
  type ManagedProcessOptions,
  type ProcessExit,
  startManagedProcess,
} from './managed-process';
export {
  BASE_KERNEL_ARGS,
  buildQemuArgs,
  hotplugRootPortArgs,
  planSocketMounts,
  type QemuAccel,
  type QemuCommandOptions,
  type SocketMountPlan,
  type VfioUserDevice,
  vfioUserDeviceAddArgs,
  vfioUserDeviceJson,
} from './qemu-command';
export { connectQmp, type QmpClient, type QmpEvent } from './qmp';
export {
  isVfuServerBuilt,
  repositoryRoot,
  startVfioUserServer,
  startVfuServer,
  type VfioUserServerOptions,
  type VfuServerDevice,
  type VfuServerEndpoint,
  type VfuServerSpec,
  vfuServerArgs,
  vfuServerCliPath,
} from './vfu-server';
