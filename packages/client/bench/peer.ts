// A minimal vfio-user server for the benchmark: BAR0 is 4 KiB of memfd, offered for mmap;
// REGION_READ is answered from the same memory. Prints its socket path when listening.
import { Command, decodeMessage, encodeMessage, HEADER_SIZE, RegionCapId } from '@vfu/protocol';
import { createMemfd, MappedRegion } from '@vfu/sys';
import { listen } from '@vfu/transport';

const path = process.argv[2] as string;
const bar = createMemfd('bench-bar0', { size: 4096 });
const memory = MappedRegion.map(bar).bytes();
memory.fill(0xab);
const listener = listen(path);
const payload = (m: Parameters<typeof encodeMessage>[0]) => encodeMessage(m).subarray(HEADER_SIZE);

listener.on('channel', (channel) => {
  channel.onRequest((request) => {
    const m = decodeMessage(request, { role: 'server' });
    if (m.kind !== 'request') return undefined;
    switch (m.command) {
      case Command.Version:
        return {
          payload: payload({
            kind: 'reply',
            command: Command.Version,
            msgId: 0,
            body: { major: 0, minor: 2, capabilities: { maxMsgFds: 8, maxDataXferSize: 1 << 20 } },
          }),
        };
      case Command.DeviceGetInfo:
        return {
          payload: payload({
            kind: 'reply',
            command: m.command,
            msgId: 0,
            body: { argsz: 16, flags: 3, numRegions: 9, numIrqs: 5 },
          }),
        };
      case Command.DeviceGetRegionInfo: {
        const index = m.body.index;
        const isBar = index === 0;
        const body = {
          argsz: isBar ? 32 + 32 : 32,
          flags: isBar ? 0x7 : index === 7 ? 0x3 : 0,
          index,
          size: isBar ? 4096n : index === 7 ? 256n : 0n,
          offset: 0n,
          capabilities: isBar
            ? [{ id: RegionCapId.SparseMmap, version: 1, areas: [{ offset: 0n, size: 4096n }] }]
            : [],
        };
        return {
          payload: payload({ kind: 'reply', command: m.command, msgId: 0, body }),
          ...(isBar ? { fds: [bar] } : {}),
        };
      }
      case Command.DeviceGetIrqInfo:
        return {
          payload: payload({
            kind: 'reply',
            command: m.command,
            msgId: 0,
            body: { argsz: 16, flags: 1, index: m.body.index, count: 0 },
          }),
        };
      case Command.RegionRead: {
        const { offset, region, count } = m.body;
        const data = memory.subarray(Number(offset), Number(offset) + count);
        return {
          payload: payload({
            kind: 'reply',
            command: m.command,
            msgId: 0,
            body: { offset, region, count, data },
          }),
        };
      }
      default:
        throw Object.assign(new Error('unsupported'), { errno: 22 });
    }
  });
});
process.stdout.write(`${path}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  listener.close();
  process.exit(0);
});
