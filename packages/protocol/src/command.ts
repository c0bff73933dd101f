/** vfio-user command numbers, as the specification assigns them (14 is unassigned). */
export enum Command {
  Version = 1,
  DmaMap = 2,
  DmaUnmap = 3,
  DeviceGetInfo = 4,
  DeviceGetRegionInfo = 5,
  DeviceGetRegionIoFds = 6,
  DeviceGetIrqInfo = 7,
  DeviceSetIrqs = 8,
  RegionRead = 9,
  RegionWrite = 10,
  DmaRead = 11,
  DmaWrite = 12,
  DeviceReset = 13,
  RegionWriteMulti = 15,
  DeviceFeature = 16,
  MigDataRead = 17,
  MigDataWrite = 18,
}

/** Spec names without the `VFIO_USER_` prefix, as traces and the golden vectors print them. */
export const COMMAND_NAMES: Readonly<Record<Command, string>> = {
  [Command.Version]: 'VERSION',
  [Command.DmaMap]: 'DMA_MAP',
  [Command.DmaUnmap]: 'DMA_UNMAP',
  [Command.DeviceGetInfo]: 'DEVICE_GET_INFO',
  [Command.DeviceGetRegionInfo]: 'DEVICE_GET_REGION_INFO',
  [Command.DeviceGetRegionIoFds]: 'DEVICE_GET_REGION_IO_FDS',
  [Command.DeviceGetIrqInfo]: 'DEVICE_GET_IRQ_INFO',
  [Command.DeviceSetIrqs]: 'DEVICE_SET_IRQS',
  [Command.RegionRead]: 'REGION_READ',
  [Command.RegionWrite]: 'REGION_WRITE',
  [Command.DmaRead]: 'DMA_READ',
  [Command.DmaWrite]: 'DMA_WRITE',
  [Command.DeviceReset]: 'DEVICE_RESET',
  [Command.RegionWriteMulti]: 'REGION_WRITE_MULTI',
  [Command.DeviceFeature]: 'DEVICE_FEATURE',
  [Command.MigDataRead]: 'MIG_DATA_READ',
  [Command.MigDataWrite]: 'MIG_DATA_WRITE',
};

/** Whether a raw command number is one the specification assigns. */
export function isCommand(n: number): n is Command {
  return Object.hasOwn(COMMAND_NAMES, n);
}

/** `DMA_MAP` for known commands, `UNKNOWN(99)` otherwise. */
export function commandName(n: number): string {
  return isCommand(n) ? COMMAND_NAMES[n] : `UNKNOWN(${n})`;
}

/** Which peer sends a command: only DMA_READ and DMA_WRITE flow from the server to the client. */
export function commandSender(command: Command): 'client' | 'server' {
  return command === Command.DmaRead || command === Command.DmaWrite ? 'server' : 'client';
}
