// Region reads through VfioUserClient against the transport's bare round trip (baseline), and
// the mmap fast path against message reads. Run: corepack pnpm --filter @vfu/client bench
// (VFU_BENCH_TIME_MS shortens it). Both processes are pinned to one CPU when `taskset` exists,
// as in the transport benchmark: cross-CPU wake-ups would swamp the comparison.
import { fileURLToPath } from 'node:url';
import { Command, encodeMessage, HEADER_SIZE } from '@vfu/protocol';
import { makeTempDir, runBenchSuite, startBenchPeer } from '@vfu/test-utils';
import { connect } from '@vfu/transport';
import { VfioUserClient } from '../src/index';

const dir = makeTempDir('vfu-client-bench-');
const path = dir.join('bench.sock');
const peer = await startBenchPeer(fileURLToPath(new URL('./peer.ts', import.meta.url)), [path]);

const bare = await connect(path);
const read4 = encodeMessage({
  kind: 'request',
  command: Command.RegionRead,
  msgId: 0,
  body: { offset: 0x10n, region: 0, count: 4 },
}).subarray(HEADER_SIZE);
const viaMessages = await VfioUserClient.connect(path, { mmap: false });
const viaMmap = await VfioUserClient.connect(path);
if (!viaMmap.isMmapped(0, 0x10, 4)) throw new Error('BAR0 was not mmapped');

await runBenchSuite({
  title: '@vfu/client: 4-byte BAR read (server in another process)',
  baseline: {
    name: 'transport Channel.request REGION_READ (bare)',
    fn: () => bare.request(Command.RegionRead, read4),
  },
  cases: [
    { name: 'VfioUserClient.read32, REGION_READ message', fn: () => viaMessages.read32(0, 0x10) },
    { name: 'VfioUserClient.regionRead 4 KiB, message', fn: () => viaMessages.regionRead(0, 0, 4096) },
    { name: 'VfioUserClient.read32, mmap fast path', fn: () => viaMmap.read32(0, 0x10) },
    { name: 'VfioUserClient.regionRead 4 KiB, mmap fast path', fn: () => viaMmap.regionRead(0, 0, 4096) },
  ],
});

await viaMessages.close();
await viaMmap.close();
await bare.close();
await peer.stop();
dir.remove();
