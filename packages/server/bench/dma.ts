// Device DMA into client memory (PciDevice.dmaRead/dmaWrite, the path every device takes), to
// measure what the SIGBUS guard costs: the same memfd mapped unguarded as plain RAM is the
// baseline; the guarded DMA_MAP mapping (the server's real path, which checks the mapping's poison
// word after each access) and JavaScript-heap RAM are compared with it in the same run.
// Run: corepack pnpm --filter @vfu/server bench (VFU_BENCH_TIME_MS shortens it). In-process, one
// thread: no CPU pinning needed beyond what the machine gives the one process.
import { MemoryRegion } from '@vfu/memory';
import { regs } from '@vfu/pci';
import { Command, DmaMapFlags } from '@vfu/protocol';
import { createMemfd, MappedRegion } from '@vfu/sys';
import { runBenchSuite } from '@vfu/test-utils';
import { VfioUserServer } from '../src/index';
import { TestClient } from '../test/support/client';
import { type TestDevice, testTree } from '../test/support/device';

const SIZE = 1 << 20;
const GUARDED = 0x1000_0000n;
const UNGUARDED = 0x2000_0000n;
const HEAP = 0x3000_0000n;

const tree = testTree();
const server = new VfioUserServer({
  id: 's0',
  socketPath: `/nonexistent/vfu-bench-${process.pid}.sock`,
  tree,
});
const device = tree.deviceAdd({ driver: 'vfu-test', bus: 's0' }) as TestDevice;
const client = TestClient.attach(server);
await client.negotiate();
await client.configWrite(regs.PCI_COMMAND, regs.PCI_COMMAND_MEMORY | regs.PCI_COMMAND_MASTER, 2);

const guardedFd = createMemfd('guarded', { size: SIZE });
await client.call(
  Command.DmaMap,
  { argsz: 32, flags: DmaMapFlags.Read | DmaMapFlags.Write, offset: 0n, addr: GUARDED, size: BigInt(SIZE) },
  { fds: [guardedFd] },
);
const plainFd = createMemfd('unguarded', { size: SIZE });
const plain = MappedRegion.map(plainFd, { guard: false });
server.bus.memoryContext.transaction(() => {
  server.bus.dmaRoot.addSubregion(
    UNGUARDED,
    MemoryRegion.ram('unguarded', BigInt(SIZE), { backing: plain.bytes() }),
  );
  server.bus.dmaRoot.addSubregion(HEAP, MemoryRegion.ram('heap', BigInt(SIZE)));
});

const small = new Uint8Array(8);
const page = new Uint8Array(4096);
for (const [size, buf] of [
  ['8-byte', small],
  ['4 KiB', page],
] as const) {
  await runBenchSuite({
    title: `@vfu/server: ${size} device DMA into client memory (read + write), guard cost`,
    baseline: {
      name: 'memfd mapping, unguarded',
      fn: async () => {
        await device.dmaRead(UNGUARDED + 0x1000n, buf);
        await device.dmaWrite(UNGUARDED + 0x2000n, buf);
      },
    },
    cases: [
      {
        name: 'DMA_MAP memfd, guarded (poison check per access)',
        fn: async () => {
          await device.dmaRead(GUARDED + 0x1000n, buf);
          await device.dmaWrite(GUARDED + 0x2000n, buf);
        },
      },
      {
        name: 'JavaScript heap RAM',
        fn: async () => {
          await device.dmaRead(HEAP + 0x1000n, buf);
          await device.dmaWrite(HEAP + 0x2000n, buf);
        },
      },
    ],
  });
}

await client.close();
await server.close();
plain.unmap();
plainFd.close();
guardedFd.close();
