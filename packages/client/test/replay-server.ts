import { Command, Errno, HEADER_SIZE, ProtocolError } from '@vfu/protocol';
import { createMemfd, EventFd, type OwnedFd } from '@vfu/sys';
import { recordPayload, type VectorRecord } from '@vfu/test-utils';
import { type Channel, type ChannelMessage, channelPair } from '@vfu/transport';

/** What a replay server saw and holds. */
export interface ReplayServer {
  channel: Channel;
  /** Commands received, in order. */
  received: number[];
  /** Payloads received (copies), in order. */
  payloads: { command: number; payload: Uint8Array }[];
  /** DMA_MAP requests received and whether an fd came with each. */
  dmaMaps: { payload: Uint8Array; withFd: boolean }[];
  /** Eventfds bound with SET_IRQS, by IRQ index. */
  eventfds: Map<number, EventFd[]>;
  /** The memfd served as region fd for mmappable regions, by region index. */
  regionFds: Map<number, OwnedFd>;
  /** Config space contents the server answers from. */
  config: Uint8Array;
  close(): void;
}

function u32(b: Uint8Array, off: number): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(off, true);
}

/**
 * A vfio-user server made of recorded replies (the server side of a golden-vector session):
 * each request is answered with the recorded reply of the same command and key (region index,
 * IRQ index...), so a client with its own request order can be replayed against it. Region
 * replies that carried an fd get a memfd of the region's size instead.
 */
export function startReplayServer(
  records: readonly VectorRecord[],
  options: { extraRecords?: readonly VectorRecord[] } = {},
): {
  server: ReplayServer;
  clientChannel: Channel;
} {
  const [clientChannel, serverChannel] = channelPair(
    {},
    {
      receiveLimits: { maxMessageSize: 1 << 21, maxFdsPerMessage: 16 },
      sendLimits: { maxMessageSize: 1 << 21, maxFdsPerMessage: 16 },
    },
  );
  const all = [...records, ...(options.extraRecords ?? [])];
  const replies = all.filter((r) => r.dir === 's2c' && r.type === 'reply' && !r.error_flag);
  const byCommand = (cmd: number) => replies.filter((r) => r.cmd === cmd);
  const version = byCommand(Command.Version)[0];
  const info = byCommand(Command.DeviceGetInfo)[0];
  const config = new Uint8Array(256);
  const configRead = byCommand(Command.RegionRead).find((r) => u32(recordPayload(r), 8) === 7);
  if (configRead) config.set(recordPayload(configRead).subarray(16));

  const server: ReplayServer = {
    channel: serverChannel,
    received: [],
    payloads: [],
    dmaMaps: [],
    eventfds: new Map(),
    regionFds: new Map(),
    config,
    close() {
      for (const fds of server.eventfds.values()) for (const e of fds) e.close();
      for (const fd of server.regionFds.values()) fd.close();
      serverChannel.destroy();
    },
  };

  serverChannel.onRequest((request: ChannelMessage) => {
    const { command } = request.header;
    server.received.push(command);
    server.payloads.push({ command, payload: request.payload.slice() });
    const p = request.payload;
    switch (command) {
      case Command.Version:
        return { payload: recordPayload(version as VectorRecord) };
      case Command.DeviceGetInfo:
        return { payload: recordPayload(info as VectorRecord) };
      case Command.DeviceGetRegionInfo: {
        const argsz = u32(p, 0);
        const index = u32(p, 8);
        // The fullest recorded reply for the region, truncated the way libvfio-user does when argsz is short.
        const candidates = byCommand(command)
          .map((r) => recordPayload(r))
          .filter((b) => u32(b, 8) === index)
          .sort((a, b) => b.length - a.length);
        const full = candidates[0];
        if (full === undefined)
          throw new ProtocolError('bad-field', 'no such region', { errno: Errno.EINVAL });
        if (argsz < u32(full, 0)) {
          const head = full.slice(0, 32);
          const v = new DataView(head.buffer);
          v.setUint32(4, v.getUint32(4, true) & ~0x8, true); // no CAPS
          v.setUint32(12, 0, true); // no cap_offset
          return { payload: head };
        }
        if ((u32(full, 4) & 0x4) !== 0 && full.length > 32) {
          const size = Number(new DataView(full.buffer).getBigUint64(16, true));
          let fd = server.regionFds.get(index);
          if (fd === undefined) {
            fd = createMemfd(`region${index}`, { size });
            server.regionFds.set(index, fd);
          }
          return { payload: full, fds: [fd] };
        }
        return { payload: full };
      }
      case Command.DeviceGetIrqInfo: {
        const index = u32(p, 8);
        const rec = byCommand(command).find((r) => u32(recordPayload(r), 8) === index);
        if (rec === undefined) throw new ProtocolError('bad-field', 'no such IRQ', { errno: Errno.EINVAL });
        return { payload: recordPayload(rec) };
      }
      case Command.DeviceSetIrqs: {
        const index = u32(p, 8);
        const fds = request.takeFds();
        if (fds.length > 0) {
          const list = server.eventfds.get(index) ?? [];
          list.push(...fds.map((fd) => EventFd.adopt(fd)));
          server.eventfds.set(index, list);
        }
        return {};
      }
      case Command.RegionRead: {
        const region = u32(p, 8);
        const offset = Number(new DataView(p.buffer, p.byteOffset).getBigUint64(0, true));
        const count = u32(p, 12);
        if (region !== 7 || offset + count > 256)
          throw new ProtocolError('bad-field', 'bad read', { errno: Errno.EINVAL });
        const out = new Uint8Array(16 + count);
        out.set(p.subarray(0, 16));
        out.set(config.subarray(offset, offset + count), 16);
        return { payload: out };
      }
      case Command.RegionWrite: {
        const region = u32(p, 8);
        const offset = Number(new DataView(p.buffer, p.byteOffset).getBigUint64(0, true));
        const count = u32(p, 12);
        if (region !== 7 || offset + count > 256)
          throw new ProtocolError('bad-field', 'bad write', { errno: Errno.EINVAL });
        config.set(p.subarray(16, 16 + count), offset);
        return { payload: p.slice(0, 16) };
      }
      case Command.DmaMap: {
        const fds = request.takeFds();
        server.dmaMaps.push({ payload: p.slice(), withFd: fds.length === 1 });
        for (const fd of fds) fd.close();
        return {};
      }
      case Command.DmaUnmap:
        return { payload: p.slice(0, 24) };
      case Command.DeviceReset:
        return {};
      default:
        throw new ProtocolError('unknown-command', `command ${command} not replayed`, {
          errno: Errno.EINVAL,
        });
    }
  });
  return { server, clientChannel };
}

/** Sends a recorded server-to-client command and returns the client's reply payload. */
export async function sendRecordedCommand(server: ReplayServer, record: VectorRecord): Promise<Uint8Array> {
  const reply = await server.channel.request(record.cmd, recordPayload(record));
  return reply.payload;
}

export { HEADER_SIZE };
