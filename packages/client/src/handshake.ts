/**
 * The start of a session: VERSION negotiation, then DEVICE_GET_INFO, DEVICE_GET_REGION_INFO of
 * every region (mapping the areas the server offers) and DEVICE_GET_IRQ_INFO of every index.
 */
import {
  Command,
  dataMessageSize,
  HEADER_SIZE,
  type NegotiatedCapabilities,
  negotiateClient,
  REGION_WRITE_MULTI_MAX_ENTRIES,
  receiveLimits,
  StructSize,
  type VersionCapabilities,
} from '@vfu/protocol';
import { MappedRegion, type OwnedFd } from '@vfu/sys';
import type { Channel } from '@vfu/transport';
import { ClientError } from './errors';
import { type ClientLink, clientErrorFrom } from './link';
import {
  type DeviceInfo,
  deviceInfoFromReply,
  type IrqInfo,
  irqInfoFromReply,
  REGION_INFO_ARGSZ,
  type RegionInfo,
  regionInfoFromReply,
  regionInfoNeedsRetry,
} from './replies';

/** The VERSION we propose. libvfio-user speaks 0.2; servers reply with min(ours, theirs). */
const PROPOSED_MAJOR = 0;
const PROPOSED_MINOR = 2;
/** Largest argsz we follow when a server asks for a bigger REGION_INFO buffer. */
const MAX_REGION_INFO_ARGSZ = 64 * 1024;

/** An mmapped area of a region. */
export interface MmapArea {
  offset: bigint;
  size: bigint;
  mapping: MappedRegion;
}

/** What the handshake learnt. */
export interface SessionInfo {
  version: { major: number; minor: number };
  serverCapabilities: VersionCapabilities;
  negotiated: NegotiatedCapabilities;
  device: DeviceInfo;
  regions: RegionInfo[];
  irqs: IrqInfo[];
  mmapAreas: Map<number, MmapArea[]>;
}

/**
 * Negotiates and enumerates over `link`. On failure every mapping made is undone (the caller
 * closes the channel).
 */
export async function handshake(
  link: ClientLink,
  options: { maxDataXferSize: number; maxMsgFds: number; mmap: boolean },
): Promise<SessionInfo> {
  const channel = link.channel;
  const mmaps = new Map<number, MmapArea[]>();
  try {
    const proposal = {
      major: PROPOSED_MAJOR,
      minor: PROPOSED_MINOR,
      capabilities: {
        maxMsgFds: options.maxMsgFds,
        maxDataXferSize: options.maxDataXferSize,
        pgsizes: 4096,
        writeMultiple: true,
      } satisfies VersionCapabilities,
    };
    const versionReply = await link.call(Command.Version, proposal, { acceptFds: 1 });
    // We never propose twin-socket, so any fd here is unsolicited: close it.
    for (const fd of versionReply.takeFds()) fd.close();
    const version = versionReply.body;
    let negotiated: NegotiatedCapabilities;
    try {
      negotiated = negotiateClient(proposal, version, 0);
    } catch (cause) {
      throw new ClientError('handshake-failed', `VERSION negotiation failed: ${(cause as Error).message}`, {
        command: Command.Version,
        cause,
      });
    }
    applyLimits(channel, negotiated);

    const info = await link.call(Command.DeviceGetInfo, { argsz: StructSize.DeviceInfo });
    const device = deviceInfoFromReply(info.body);

    const regions: RegionInfo[] = [];
    for (let index = 0; index < device.numRegions; index++) {
      const { info, fd } = await queryRegion(link, index);
      regions.push(info);
      if (fd === undefined) continue;
      try {
        if (options.mmap) {
          const areas = mapRegion(info, fd);
          if (areas.length > 0) mmaps.set(index, areas);
        }
      } finally {
        fd.close();
      }
    }

    const irqs: IrqInfo[] = [];
    for (let index = 0; index < device.numIrqs; index++) {
      const reply = await link.call(Command.DeviceGetIrqInfo, { argsz: StructSize.IrqInfo, index });
      const irq = irqInfoFromReply(reply.body);
      if (irq.index !== index) {
        throw new ClientError(
          'bad-reply',
          `DEVICE_GET_IRQ_INFO for index ${index} answered index ${irq.index}`,
          {
            command: Command.DeviceGetIrqInfo,
            irqIndex: index,
          },
        );
      }
      irqs.push(irq);
    }
    return {
      version: { major: version.major, minor: version.minor },
      serverCapabilities: version.capabilities ?? {},
      negotiated,
      device,
      regions,
      irqs,
      mmapAreas: mmaps,
    };
  } catch (error) {
    for (const areas of mmaps.values()) for (const a of areas) a.mapping.unmap();
    throw clientErrorFrom(error, Command.Version);
  }
}

/** Limits both ways after VERSION. */
function applyLimits(channel: Channel, negotiated: NegotiatedCapabilities): void {
  const limits = receiveLimits(negotiated);
  channel.setReceiveLimits({
    maxMessageSize: Math.max(limits.maxMessageSize, HEADER_SIZE + REGION_INFO_ARGSZ),
    maxFdsPerMessage: limits.maxFdsPerMessage,
  });
  const writeMulti =
    StructSize.WriteMultipleCount + StructSize.WriteMultipleEntry * REGION_WRITE_MULTI_MAX_ENTRIES;
  channel.setSendLimits({
    // Our own messages: region writes up to the server's limit, DMA_READ replies up to ours.
    maxMessageSize: dataMessageSize(
      Math.max(negotiated.maxSendDataXferSize, negotiated.maxRecvDataXferSize, writeMulti),
    ),
    maxFdsPerMessage: negotiated.maxSendFds,
  });
}

/** REGION_INFO with the retry libvfio-user needs when the capabilities do not fit our argsz. */
async function queryRegion(
  link: ClientLink,
  index: number,
): Promise<{ info: RegionInfo; fd: OwnedFd | undefined }> {
  let argsz = REGION_INFO_ARGSZ;
  for (let attempt = 0; attempt < 2; attempt++) {
    let reply: Awaited<ReturnType<typeof link.call<Command.DeviceGetRegionInfo>>>;
    try {
      reply = await link.call(Command.DeviceGetRegionInfo, { argsz, index }, { acceptFds: 1 });
    } catch (error) {
      const e = clientErrorFrom(error, Command.DeviceGetRegionInfo);
      // A server may refuse a region it does not implement (VGA, ROM): it is then absent.
      if (e.code === 'error-reply') return { info: absentRegion(index), fd: undefined };
      throw e;
    }
    const fds = reply.takeFds();
    const body = reply.body;
    if (body.index !== index) {
      for (const fd of fds) fd.close();
      throw new ClientError(
        'bad-reply',
        `DEVICE_GET_REGION_INFO for region ${index} answered region ${body.index}`,
        {
          command: Command.DeviceGetRegionInfo,
          region: index,
        },
      );
    }
    if (regionInfoNeedsRetry(body, argsz) && attempt === 0 && body.argsz <= MAX_REGION_INFO_ARGSZ) {
      for (const fd of fds) fd.close();
      argsz = body.argsz;
      continue;
    }
    return { info: regionInfoFromReply(body, fds.length), fd: fds[0] };
  }
  throw new ClientError('bad-reply', `DEVICE_GET_REGION_INFO for region ${index} kept growing argsz`, {
    command: Command.DeviceGetRegionInfo,
    region: index,
  });
}

function absentRegion(index: number): RegionInfo {
  return regionInfoFromReply(
    { argsz: StructSize.RegionInfo, flags: 0, index, size: 0n, offset: 0n, capabilities: [] },
    0,
  );
}

/** mmaps the areas of a region that the server offered; areas that cannot be mapped stay on messages. */
function mapRegion(info: RegionInfo, fd: OwnedFd): MmapArea[] {
  const areas: MmapArea[] = [];
  for (const a of info.mmapAreas) {
    const fileOffset = info.offset + a.offset;
    if (fileOffset > BigInt(Number.MAX_SAFE_INTEGER) || a.size > BigInt(Number.MAX_SAFE_INTEGER)) continue;
    try {
      const mapping = MappedRegion.map(fd, {
        offset: Number(fileOffset),
        length: Number(a.size),
        mode: 'shared',
      });
      areas.push({ offset: a.offset, size: a.size, mapping });
    } catch {
      // Unaligned or out-of-file areas are served by REGION_READ/WRITE instead.
    }
  }
  return areas;
}
