// Round trips between two processes: vfio-user channel vs a plain net.Socket echo measured in the
// same run. Run: corepack pnpm --filter @vfu/transport bench (VFU_BENCH_TIME_MS shortens it).
// Both processes are pinned to one CPU when `taskset` exists: waking a process on another CPU
// costs more than the whole round trip on small VMs, which would swamp the comparison.
import { connect as netConnect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Command } from '@vfu/protocol';
import { createMemfd } from '@vfu/sys';
import { makeTempDir, runBenchSuite, startBenchPeer } from '@vfu/test-utils';
import { connect } from '../src/index';

const dir = makeTempDir();
const netPath = dir.join('net.sock');
const channelPath = dir.join('vfu.sock');
const peer = await startBenchPeer(fileURLToPath(new URL('./echo-peer.ts', import.meta.url)), [
  netPath,
  channelPath,
]);

const socket: Socket = await new Promise((resolve) => {
  const s = netConnect(netPath, () => resolve(s));
});
socket.setNoDelay?.(true);
const message = Buffer.alloc(16, 1);
function netRoundTrip(): Promise<void> {
  return new Promise((resolve) => {
    let got = 0;
    const onData = (d: Buffer) => {
      got += d.length;
      if (got >= 16) {
        socket.off('data', onData);
        resolve();
      }
    };
    socket.on('data', onData);
    socket.write(message);
  });
}

const channel = await connect(channelPath);
const memfd = createMemfd('bench', { size: 4096 });

await runBenchSuite({
  title: '@vfu/transport: 16-byte round trip between two processes',
  baseline: { name: 'net.Socket echo (16 bytes)', fn: netRoundTrip },
  cases: [
    { name: 'Channel.request, header only (16 bytes)', fn: () => channel.request(Command.DeviceReset) },
    {
      name: 'Channel.request + one fd (16 bytes)',
      fn: () => channel.request(Command.DeviceReset, undefined, { fds: [memfd] }),
    },
  ],
});

memfd.close();
await channel.close();
socket.destroy();
await peer.stop();
dir.remove();
