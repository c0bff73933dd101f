// REGION_READ round trips from a client in this process to a vfio-user endpoint in another, as
// ratios to the bare transport echo round trip measured in the same run.
// Run: corepack pnpm --filter @vfu/server bench (VFU_BENCH_TIME_MS shortens it).
import { fileURLToPath } from 'node:url';
import { Command, encodeMessage, HEADER_SIZE } from '@vfu/protocol';
import { makeTempDir, runBenchSuite, startBenchPeer } from '@vfu/test-utils';
import { connect } from '@vfu/transport';
import { TestClient } from '../test/support/client';
import { REG } from '../test/support/device';

const dir = makeTempDir('vfu-bench-');
const serverPath = dir.join('server.sock');
const echoPath = dir.join('echo.sock');
const peer = await startBenchPeer(fileURLToPath(new URL('./server-peer.ts', import.meta.url)), [
  serverPath,
  echoPath,
]);

const regionRead = (region: number, offset: bigint) =>
  encodeMessage({
    kind: 'request',
    command: Command.RegionRead,
    msgId: 0,
    body: { region, offset, count: 4 },
  }).subarray(HEADER_SIZE);
const configRead = regionRead(7, 0n);
const barRead = regionRead(0, BigInt(REG.SCRATCH));

const echo = await connect(echoPath);
const client = new TestClient(await connect(serverPath));
await client.negotiate();
const channel = client.channel;

await runBenchSuite({
  title: '@vfu/server: 4-byte REGION_READ round trip, client in another process',
  baseline: {
    name: 'transport echo (REGION_READ-sized request)',
    fn: () => echo.request(Command.RegionRead, configRead),
  },
  cases: [
    { name: 'REGION_READ config space, 4 bytes', fn: () => channel.request(Command.RegionRead, configRead) },
    { name: 'REGION_READ BAR0 (MMIO), 4 bytes', fn: () => channel.request(Command.RegionRead, barRead) },
  ],
});

await channel.close();
await echo.close();
await peer.stop();
dir.remove();
