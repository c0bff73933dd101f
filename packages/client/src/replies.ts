import {
  Command,
  commandName,
  type DeviceGetInfoReply,
  type DeviceGetIrqInfoReply,
  type DeviceGetRegionInfoReply,
  DeviceInfoFlags,
  decodeMessage,
  type FramedMessage,
  IrqInfoFlags,
  isProtocolError,
  RegionCapId,
  RegionInfoFlags,
  type ReplyOf,
  type SparseMmapArea,
  StructSize,
  vfioPciIrqName,
  vfioPciRegionName,
} from '@vfu/protocol';
import { ClientError, VfioUserReplyError } from './errors';

/** Size of the fixed REGION_INFO struct. */
export const REGION_INFO_SIZE = StructSize.RegionInfo;
/** argsz of our first REGION_INFO request: room for a sparse-mmap capability of 8 areas and a TYPE capability. */
export const REGION_INFO_ARGSZ =
  StructSize.RegionInfo + StructSize.SparseMmapCap + StructSize.SparseMmapArea * 8 + StructSize.TypeCap;

/** The request payload (no header) of `command` with `body`, ready for `Channel.request`. */
export { encodeRequestPayload } from '@vfu/protocol';

/**
 * Decodes a received reply to a `command` request. An error reply becomes a
 * {@link VfioUserReplyError}; anything malformed, or a reply to another command, `bad-reply`.
 * `maxDataXferSize` is our own advertised limit (data counts above it are refused).
 */
export function decodeReply<C extends Command>(
  command: C,
  framed: FramedMessage,
  maxDataXferSize?: number,
): ReplyOf<C> {
  const { header } = framed;
  if (header.type !== 'reply') {
    throw new ClientError('bad-reply', `expected a ${vfioCommand(command)} reply, got a command`, {
      command,
      msgId: header.msgId,
    });
  }
  if (header.command !== command) {
    throw new ClientError(
      'bad-reply',
      `expected a ${vfioCommand(command)} reply, got command ${header.command}`,
      {
        command,
        msgId: header.msgId,
      },
    );
  }
  let message: ReturnType<typeof decodeMessage>;
  try {
    message = decodeMessage(
      framed,
      maxDataXferSize === undefined ? { role: 'client' } : { role: 'client', maxDataXferSize },
    );
  } catch (cause) {
    throw new ClientError(
      'bad-reply',
      `malformed ${vfioCommand(command)} reply: ${isProtocolError(cause) ? cause.message : String(cause)}`,
      { command, msgId: header.msgId, cause },
    );
  }
  if (message.kind === 'error') throw new VfioUserReplyError(command, message.errorNo, message.msgId);
  return message.body as ReplyOf<C>;
}

function vfioCommand(command: number): string {
  return commandName(command);
}

/** What DEVICE_GET_INFO said about the device. */
export interface DeviceInfo {
  flags: number;
  /** DEVICE_RESET is supported. */
  reset: boolean;
  /** A PCI device (the only kind vfio-user defines). */
  pci: boolean;
  numRegions: number;
  numIrqs: number;
}

/** Upper bounds QEMU's client applies to GET_INFO replies, kept so a hostile server cannot make us loop. */
export const MAX_REGIONS = 100;
/** See {@link MAX_REGIONS}. */
export const MAX_IRQ_INDICES = 50;

/** Interprets a DEVICE_GET_INFO reply; refuses counts QEMU's client refuses. */
export function deviceInfoFromReply(reply: DeviceGetInfoReply): DeviceInfo {
  if (reply.numRegions > MAX_REGIONS || reply.numIrqs > MAX_IRQ_INDICES) {
    throw new ClientError(
      'bad-reply',
      `DEVICE_GET_INFO: ${reply.numRegions} regions / ${reply.numIrqs} IRQ indices exceed ${MAX_REGIONS} / ${MAX_IRQ_INDICES}`,
      { command: Command.DeviceGetInfo },
    );
  }
  return {
    flags: reply.flags,
    reset: (reply.flags & DeviceInfoFlags.Reset) !== 0,
    pci: (reply.flags & DeviceInfoFlags.Pci) !== 0,
    numRegions: reply.numRegions,
    numIrqs: reply.numIrqs,
  };
}

/** What DEVICE_GET_REGION_INFO said about one region. */
export interface RegionInfo {
  index: number;
  /** `BAR0`..`BAR5`, `ROM`, `CONFIG`, `VGA` or `REGION<n>`. */
  name: string;
  /** Bytes; 0 = region not implemented. */
  size: bigint;
  /** mmap offset on the region fd, base of sparse-area offsets. */
  offset: bigint;
  flags: number;
  readable: boolean;
  writable: boolean;
  /** The server offers mmap for (parts of) this region. */
  mmappable: boolean;
  /**
   * Areas that may be mmapped, relative to the region: the SPARSE_MMAP capability, or the whole
   * region when the reply had MMAP and an fd but no capability. Empty when nothing can be mapped.
   */
  mmapAreas: SparseMmapArea[];
  /** TYPE capability (device-specific regions). */
  type?: { type: number; subtype: number };
  /** The reply carried an fd. */
  hasFd: boolean;
}

/**
 * Whether a REGION_INFO reply was truncated: the server needs `argsz` bytes to describe the
 * region and our buffer was smaller (libvfio-user then omits the capabilities and the fd).
 */
export function regionInfoNeedsRetry(reply: DeviceGetRegionInfoReply, requestedArgsz: number): boolean {
  return reply.argsz > requestedArgsz;
}

/** Interprets a complete REGION_INFO reply; `fdCount` is the number of fds that came with it. */
export function regionInfoFromReply(reply: DeviceGetRegionInfoReply, fdCount: number): RegionInfo {
  const mmappable = (reply.flags & RegionInfoFlags.Mmap) !== 0;
  const info: RegionInfo = {
    index: reply.index,
    name: regionName(reply.index),
    size: reply.size,
    offset: reply.offset,
    flags: reply.flags,
    readable: (reply.flags & RegionInfoFlags.Read) !== 0,
    writable: (reply.flags & RegionInfoFlags.Write) !== 0,
    mmappable,
    mmapAreas: [],
    hasFd: fdCount > 0,
  };
  let sparse: SparseMmapArea[] | undefined;
  for (const cap of reply.capabilities) {
    if (cap.id === RegionCapId.SparseMmap && 'areas' in cap) sparse = cap.areas;
    else if (cap.id === RegionCapId.Type && 'subtype' in cap)
      info.type = { type: cap.type, subtype: cap.subtype };
  }
  if (mmappable && fdCount > 0) {
    const areas = sparse ?? [{ offset: 0n, size: reply.size }];
    // Only areas that really lie inside the region are usable; others are a server bug we route around.
    info.mmapAreas = areas.filter((a) => a.size > 0n && a.offset + a.size <= reply.size);
  }
  return info;
}

/** Region name as lspci/vfio spell it. */
export function regionName(index: number): string {
  return index >= 0 && index <= 8 ? vfioPciRegionName(index) : `REGION${index}`;
}

/** What DEVICE_GET_IRQ_INFO said about one IRQ index. */
export interface IrqInfo {
  index: number;
  /** `INTx`, `MSI`, `MSI-X`, `ERR`, `REQ`. */
  name: string;
  /** Vectors (0 = not implemented). */
  count: number;
  flags: number;
  eventfd: boolean;
  maskable: boolean;
  automasked: boolean;
  noResize: boolean;
}

/** Interprets a DEVICE_GET_IRQ_INFO reply. */
export function irqInfoFromReply(reply: DeviceGetIrqInfoReply): IrqInfo {
  return {
    index: reply.index,
    name: reply.index >= 0 && reply.index <= 4 ? vfioPciIrqName(reply.index) : `IRQ${reply.index}`,
    count: reply.count,
    flags: reply.flags,
    eventfd: (reply.flags & IrqInfoFlags.Eventfd) !== 0,
    maskable: (reply.flags & IrqInfoFlags.Maskable) !== 0,
    automasked: (reply.flags & IrqInfoFlags.Automasked) !== 0,
    noResize: (reply.flags & IrqInfoFlags.NoResize) !== 0,
  };
}

/**
 * The data of a REGION_READ reply, checked against the request: same region and offset, and
 * exactly the bytes asked for (a short or long read is a `bad-reply`). A count-0 read may be
 * answered header-only (libvfio-user).
 */
export function regionReadData(
  request: { region: number; offset: bigint; count: number },
  reply: ReplyOf<Command.RegionRead>,
): Uint8Array {
  if (reply.form === 'header-only') {
    if (request.count === 0) return new Uint8Array(0);
    throw new ClientError('bad-reply', `REGION_READ of ${request.count} bytes answered without data`, {
      command: Command.RegionRead,
      region: request.region,
    });
  }
  if (reply.region !== request.region || reply.offset !== request.offset || reply.count !== request.count) {
    throw new ClientError(
      'bad-reply',
      `REGION_READ reply region=${reply.region} offset=0x${reply.offset.toString(16)} count=${reply.count} does not match the request (region=${request.region} offset=0x${request.offset.toString(16)} count=${request.count})`,
      { command: Command.RegionRead, region: request.region },
    );
  }
  return reply.data;
}

/** Checks a REGION_WRITE reply: the server must report the whole write done. */
export function checkRegionWriteReply(
  request: { region: number; offset: bigint; count: number },
  reply: ReplyOf<Command.RegionWrite>,
): void {
  if (reply.count !== request.count) {
    throw new ClientError('bad-reply', `REGION_WRITE wrote ${reply.count} of ${request.count} bytes`, {
      command: Command.RegionWrite,
      region: request.region,
    });
  }
}
