// Round trips between two processes: vfio-user channel vs a plain net.Socket echo measured in the
// same run. Run: corepack pnpm --filter @vfu/transport bench (VFU_BENCH_TIME_MS shortens it).
// Both processes are pinned to one CPU when `taskset` exists: waking a process on another CPU
// costs more than the whole round trip on small VMs, which would swamp the comparison.
import { execFileSync, spawn } from 'node:child_process';
import { connect as netConnect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Command } from '@vfu/protocol';
import { createMemfd } from '@vfu/sys';
import { makeTempDir, runBenchSuite } from '@vfu/test-utils';
import { connect } from '../src/index';

function pin(pid: number): boolean {
  try {
    execFileSync('taskset', ['-cp', '0', String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const dir = makeTempDir();
const netPath = dir.join('net.sock');
const channelPath = dir.join('vfu.sock');
const child = spawn(
  process.execPath,
  [
    '--import',
    'tsx',
    '--conditions=@vfu/source',
    fileURLToPath(new URL('./echo-peer.ts', import.meta.url)),
    netPath,
    channelPath,
  ],
  { stdio: ['pipe', 'pipe', 'inherit'] },
);
await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
const pinned = pin(process.pid) && pin(child.pid!);
console.log(pinned ? 'both processes pinned to CPU 0' : 'taskset unavailable: processes not pinned');

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
child.stdin.end();
await new Promise((resolve) => child.on('close', resolve));
dir.remove();
