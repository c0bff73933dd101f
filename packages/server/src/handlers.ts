/**
 * The command handlers: one per vfio-user command, in one table keyed by Command (a missing
 * command fails to compile). The message is already decoded, so sizes, argsz, flags and fd counts
 * were validated by `@vfu/protocol`; each handler starts with the checks that need the device or
 * the session (region and IRQ indexes, bounds, mappings), and any failure becomes an error reply.
 */

import { hex } from '@vfu/errors';
import type { PciDevice } from '@vfu/pci';
import {
  Command,
  commandName,
  DeviceFeatureIndex,
  DeviceInfoFlags,
  DmaUnmapFlags,
  deviceFeatureName,
  dirtyBitmapSize,
  Errno,
  negotiateServer,
  type ReplyOf,
  type RequestMessageOf,
  StructSize,
  VFIO_PCI_NUM_IRQS,
  VFIO_PCI_NUM_REGIONS,
  vfioPciRegionName,
} from '@vfu/protocol';
import type { FdLike } from '@vfu/sys';
import type { ChannelMessage } from '@vfu/transport';
import type { CommandContext } from './command-context';
import { reject } from './errors';
import { checkAccess, checkTx, configRead, configWrite, regionInfo, regionTarget } from './regions';

/** What a handler answers: the reply body and the fds to attach. */
export interface HandlerResult<C extends Command = Command> {
  body: ReplyOf<C>;
  fds?: readonly FdLike[];
}

/** Handles one decoded request; throws (ServerError/ProtocolError) for an error reply. */
export type CommandHandler<C extends Command = Command> = (
  session: CommandContext,
  request: RequestMessageOf<C>,
  raw: ChannelMessage,
) => HandlerResult<C> | Promise<HandlerResult<C>>;

const EMPTY = Object.freeze({}) as Record<string, never>;

/** DEVICE_FEATURE features served, with the operations each accepts besides PROBE. */
const DMA_LOGGING_OPS: Readonly<Record<number, { get: boolean; set: boolean }>> = {
  [DeviceFeatureIndex.DmaLoggingStart]: { get: false, set: true },
  [DeviceFeatureIndex.DmaLoggingStop]: { get: false, set: true },
  [DeviceFeatureIndex.DmaLoggingReport]: { get: true, set: false },
};

/** Region access through the device: config space synchronously, BARs through their dispatcher. */
function regionRead(
  session: CommandContext,
  device: PciDevice,
  index: number,
  offset: bigint,
  dest: Uint8Array,
): void | Promise<void> {
  const target = regionTarget(device, index);
  checkAccess(target, index, offset, dest.length);
  if (target.kind === 'config') return configRead(device, offset, dest);
  if (target.kind !== 'bar') return;
  const bar = target.bar;
  const what = `read of BAR region ${index} at ${hex(offset)}+${dest.length}`;
  if (!hasAsyncPart(bar.addressSpace.flatView.ranges))
    return checkTx(bar.read(offset, dest), what, session.guestError);
  return bar.readAsync(offset, dest).then((r) => checkTx(r, what, session.guestError));
}

/** Checks a write of `length` bytes at `offset` of region `index` may be attempted (EINVAL if not). */
function writableTarget(device: PciDevice, index: number, offset: bigint, length: number) {
  const target = regionTarget(device, index);
  checkAccess(target, index, offset, length);
  if (target.kind === 'bar' && target.bar.kind === 'rom') throw reject(`region ${index} (ROM) is read-only`);
  return target;
}

function regionWrite(
  session: CommandContext,
  device: PciDevice,
  index: number,
  offset: bigint,
  data: Uint8Array,
): void | Promise<void> {
  const target = writableTarget(device, index, offset, data.length);
  if (target.kind === 'config') return configWrite(device, offset, data);
  if (target.kind !== 'bar') return;
  const bar = target.bar;
  const what = `write of BAR region ${index} at ${hex(offset)}+${data.length}`;
  if (!hasAsyncPart(bar.addressSpace.flatView.ranges))
    return checkTx(bar.write(offset, data), what, session.guestError);
  return bar.writeAsync(offset, data).then((r) => checkTx(r, what, session.guestError));
}

function hasAsyncPart(ranges: readonly { region: { kind: string } }[]): boolean {
  for (const r of ranges) if (r.region.kind === 'async-io') return true;
  return false;
}

/** Every command's handler. */
export const COMMAND_HANDLERS: { readonly [C in Command]: CommandHandler<C> } = {
  [Command.Version]: (session, q) => {
    if (session.negotiated !== undefined) throw reject('VERSION was already negotiated on this connection');
    if (q.body.major !== (session.host.offer.major ?? 0)) {
      // The spec: a server that cannot support the proposed major version closes the connection
      // (after the error reply, so the client learns why).
      session.closeAfterReply();
    }
    const { reply, negotiated } = negotiateServer(session.host.offer, q.body);
    session.negotiatedWith(negotiated);
    return { body: { major: reply.major, minor: reply.minor, capabilities: reply.capabilities } };
  },

  [Command.DmaMap]: (session, q, raw) => {
    const dma = session.requireDma();
    session.requireDevice();
    const [fd, ...extra] = raw.takeFds();
    for (const x of extra) x.close();
    dma.map(q.body, fd);
    session.host.stats.dmaRegions = dma.mappings.length;
    return { body: EMPTY };
  },

  [Command.DmaUnmap]: async (session, q) => {
    const dma = session.requireDma();
    const { argsz, flags, addr, size } = q.body;
    if (flags === DmaUnmapFlags.GetDirtyBitmap) {
      throw reject('DMA_UNMAP with GET_DIRTY_BITMAP: dirty page logging is not supported', Errno.ENOTSUP);
    }
    if (flags === DmaUnmapFlags.All) await dma.unmapAll();
    else await dma.unmap(addr, size);
    session.host.stats.dmaRegions = dma.mappings.length;
    return { body: { argsz: Math.min(argsz, StructSize.DmaUnmap), flags, addr, size } };
  },

  [Command.DeviceGetInfo]: (session) => {
    session.requireDevice();
    return {
      body: {
        argsz: StructSize.DeviceInfo,
        flags: DeviceInfoFlags.Pci | DeviceInfoFlags.Reset,
        numRegions: VFIO_PCI_NUM_REGIONS,
        numIrqs: VFIO_PCI_NUM_IRQS,
      },
    };
  },

  [Command.DeviceGetRegionInfo]: (session, q) => {
    const device = session.requireDevice();
    // A client that takes no fds (max_msg_fds 0) gets every region trapped: never an fd it refused.
    const canTakeFd = (session.negotiated?.maxSendFds ?? 1) > 0;
    const resolveFd = canTakeFd ? session.host.resolveRegionFd : undefined;
    const { body, fds, watch } = regionInfo(device, q.body.index, q.body.argsz, resolveFd);
    if (watch !== undefined)
      session.watchSharedMemory(watch, `region ${q.body.index} (${vfioPciRegionName(q.body.index)})`);
    return { body, fds };
  },

  [Command.DeviceGetRegionIoFds]: (session, q) => {
    const device = session.requireDevice();
    const target = regionTarget(device, q.body.index);
    if (target.size === 0n) throw reject(`region ${q.body.index} is not implemented`);
    // No ioeventfds are offered: every access arrives as REGION_WRITE, which the device model sees.
    return { body: { argsz: StructSize.RegionIoFds, index: q.body.index, count: 0, subRegions: [] } };
  },

  [Command.DeviceGetIrqInfo]: (session, q) => {
    session.requireDevice();
    const { index } = q.body;
    if (index >= VFIO_PCI_NUM_IRQS) throw reject(`IRQ index ${index} is not one of the ${VFIO_PCI_NUM_IRQS}`);
    const irqs = session.host.irqs;
    return { body: { argsz: StructSize.IrqInfo, flags: irqs.flags(index), index, count: irqs.count(index) } };
  },

  [Command.DeviceSetIrqs]: (session, q, raw) => {
    session.requireDevice();
    session.host.irqs.setIrqs(q.body, raw.takeFds());
    return { body: EMPTY };
  },

  [Command.RegionRead]: (session, q) => {
    const device = session.requireDevice();
    const { offset, region, count } = q.body;
    const data = new Uint8Array(count);
    const done = regionRead(session, device, region, offset, data);
    const reply = (): HandlerResult<Command.RegionRead> =>
      count === 0 ? { body: { form: 'header-only' } } : { body: { offset, region, count, data } };
    return done instanceof Promise ? done.then(reply) : reply();
  },

  [Command.RegionWrite]: (session, q) => {
    const device = session.requireDevice();
    const { offset, region, count, data } = q.body;
    const done = regionWrite(session, device, region, offset, data);
    const reply = (): HandlerResult<Command.RegionWrite> => ({ body: { offset, region, count } });
    return done instanceof Promise ? done.then(reply) : reply();
  },

  [Command.DmaRead]: (_session, q) => {
    throw reject(`${commandName(q.command)} is sent by the server, not to it`);
  },

  [Command.DmaWrite]: (_session, q) => {
    throw reject(`${commandName(q.command)} is sent by the server, not to it`);
  },

  [Command.DeviceReset]: (session) => {
    const device = session.requireDevice();
    device.reset('warm');
    session.host.irqs.resetState();
    return { body: EMPTY };
  },

  [Command.RegionWriteMulti]: async (session, q) => {
    const device = session.requireDevice();
    // Every entry is checked before any is applied: an error reply carries no count, so a
    // message refused for a bad entry must not have half happened.
    for (const w of q.body.writes) writableTarget(device, w.region, w.offset, w.data.length);
    let done = 0n;
    for (const w of q.body.writes) {
      await regionWrite(session, device, w.region, w.offset, w.data);
      done++;
    }
    return { body: { wrCnt: done } };
  },

  [Command.DeviceFeature]: (session, q, raw) => {
    session.requireDevice();
    const { feature, get, set, probe, data } = q.body;
    const name = deviceFeatureName(feature);
    const ops = DMA_LOGGING_OPS[feature];
    // Migration is not supported yet: its features are absent, as libvfio-user answers without
    // migration callbacks. DMA logging is served from the memory core's dirty log.
    if (ops === undefined) throw reject(`DEVICE_FEATURE ${name} is not supported by this device`);
    if ((get && !ops.get) || (set && !ops.set)) {
      throw reject(`DEVICE_FEATURE ${name} does not support ${get ? 'GET' : 'SET'}`);
    }
    // SET and PROBE are answered with the request itself: argsz must leave room for it.
    if (!get && q.body.argsz < raw.payload.length) {
      throw reject(`argsz ${q.body.argsz} cannot hold the ${raw.payload.length}-byte ${name} reply`);
    }
    if (probe) return { body: q.body };
    const dma = session.requireDma();
    if (feature === DeviceFeatureIndex.DmaLoggingStart) {
      if (data?.kind !== 'dma-logging-control') throw reject(`${name} needs its control data`);
      dma.startLogging(data.pageSize);
      return { body: q.body };
    }
    if (feature === DeviceFeatureIndex.DmaLoggingStop) {
      dma.stopLogging();
      return { body: q.body };
    }
    if (data?.kind !== 'dma-logging-report') throw reject(`${name} needs its range`);
    // The reply size is known before any work: a too-small argsz costs nothing.
    const bitmapSize = dirtyBitmapSize(data.length, data.pageSize);
    const argsz = StructSize.DeviceFeature + StructSize.DmaLoggingReport + Number(bitmapSize);
    if (q.body.argsz < argsz) throw reject(`argsz ${q.body.argsz} cannot hold the ${argsz}-byte report`);
    return dma.loggingReport(data.iova, data.length, data.pageSize).then((bitmap) => ({
      body: {
        argsz,
        feature,
        get: true,
        set: false,
        probe: false,
        data: {
          kind: 'dma-logging-report',
          iova: data.iova,
          length: data.length,
          pageSize: data.pageSize,
          bitmap,
        },
      },
    }));
  },

  [Command.MigDataRead]: () => {
    throw reject('MIG_DATA_READ: migration is not supported by this device');
  },

  [Command.MigDataWrite]: () => {
    throw reject('MIG_DATA_WRITE: migration is not supported by this device');
  },
};
