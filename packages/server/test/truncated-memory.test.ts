// A client that takes away the memory behind its DMA mappings (truncates the memfd or file) must
// not take the server down: the device's DMA fails, that client is disconnected with a log line
// naming the region, and the other endpoint keeps serving. The server runs in its own process, as
// before the guard such a client killed it with SIGBUS.
import { execFileSync } from 'node:child_process';
import { closeSync, ftruncateSync, openSync } from 'node:fs';
import { regs } from '@vfu/pci';
import { Command, DmaMapFlags, RegionInfoFlags } from '@vfu/protocol';
import { createMemfd, MappedRegion, OwnedFd, Seal } from '@vfu/sys';
import { makeTempDir, type ServerProcess, type TempDir } from '@vfu/test-utils';
import { connect } from '@vfu/transport';
import { describe, expect, it, onTestFinished } from 'vitest';
import { TestClient } from './support/client';
import { REG } from './support/device';
import { startServerChild } from './support/server-child';

const SIZE = 16 << 20;
const IOVA = 0x100000000n;
const RANGE = '0x100000000\\+0x1000000';

async function setup(options: object = {}) {
  const dir = makeTempDir('vfu-trunc-');
  onTestFinished(() => dir.remove());
  const server = await startServerChild(dir, options);
  const other = await client(dir, 's1');
  await other.barWrite32(0, REG.SCRATCH, 0x1234);
  return { dir, server, other };
}

async function client(dir: TempDir, id: string): Promise<TestClient> {
  const c = new TestClient(await connect(dir.join(`${id}.sock`)));
  onTestFinished(() => c.close());
  await c.negotiate();
  await c.configWrite(regs.PCI_COMMAND, regs.PCI_COMMAND_MEMORY | regs.PCI_COMMAND_MASTER, 2);
  return c;
}

async function mapFd(c: TestClient, fd: OwnedFd): Promise<void> {
  await c.call(
    Command.DmaMap,
    { argsz: 32, flags: DmaMapFlags.Read | DmaMapFlags.Write, offset: 0n, addr: IOVA, size: BigInt(SIZE) },
    { fds: [fd] },
  );
}

/** Starts one device DMA: 1 reads client memory into the device, 2 writes the device's buffer out. */
async function startDma(c: TestClient, offset: number, cmd: 1 | 2): Promise<void> {
  const addr = IOVA + BigInt(offset);
  await c.barWrite32(0, REG.DMA_ADDR_LO, Number(addr & 0xffffffffn));
  await c.barWrite32(0, REG.DMA_ADDR_HI, Number(addr >> 32n));
  await c.barWrite32(0, REG.DMA_LEN, 0x100);
  await c.barWrite32(0, REG.DMA_CMD, cmd);
}

function closed(c: TestClient): Promise<void> {
  return new Promise((resolve) => {
    if (c.channel.closed) resolve();
    else c.channel.on('close', () => resolve());
  });
}

/** The failure as the server reports it: the DMA result, the log line, the dropped client. */
async function expectDroppedAfterDmaFailure(
  server: ServerProcess,
  victim: TestClient,
  dir: 'dmaRead' | 'dmaWrite' | 'dma(Read|Write)',
) {
  await server.waitForOutput(
    new RegExp(`"dma":"${dir}","endpoint":"s0","address":"0x[0-9a-f]+","result":"access-error"`),
  );
  await server.waitForOutput(
    new RegExp(
      `client truncated the memory behind DMA region ${RANGE}: device DMA to it failed; disconnecting`,
    ),
  );
  await closed(victim);
}

async function expectServing(server: ServerProcess, other: TestClient, dir: TempDir) {
  // The other endpoint answered throughout, and the victim's endpoint takes a new client.
  expect(await other.barRead32(0, REG.SCRATCH)).toBe(0x1234);
  const again = await client(dir, 's0');
  await again.barWrite32(0, REG.SCRATCH, 7);
  expect(await again.barRead32(0, REG.SCRATCH)).toBe(7);
  expect(server.child.exitCode).toBeNull();
  expect(server.child.signalCode).toBeNull();
}

describe('client memory truncated under a DMA mapping', () => {
  it.each([
    ['reads from', 1, 'dmaRead'],
    ['writes to', 2, 'dmaWrite'],
  ] as const)(
    'truncated before the device %s it: DMA fails, client dropped, others served',
    async (_w, cmd, dir) => {
      const { dir: tmp, server, other } = await setup();
      const victim = await client(tmp, 's0');
      const memfd = createMemfd('guest', { size: SIZE });
      onTestFinished(() => memfd.close());
      await mapFd(victim, memfd);
      memfd.truncate(0);
      await startDma(victim, 0x8000, cmd);
      await expectDroppedAfterDmaFailure(server, victim, dir);
      await expectServing(server, other, tmp);
    },
  );

  it('truncated by another process while the device DMAs in both directions', async () => {
    const { dir: tmp, server, other } = await setup();
    const victim = await client(tmp, 's0');
    const memfd = createMemfd('guest', { size: SIZE });
    onTestFinished(() => memfd.close());
    const mine = MappedRegion.map(memfd);
    onTestFinished(() => mine.unmap());
    mine.bytes(0x8000, 0x8100).fill(0x5a);
    await mapFd(victim, memfd);
    let ok = 0;
    const stop = closed(victim);
    let gone = false;
    void stop.then(() => {
      gone = true;
    });
    // The other endpoint's client reads throughout, and always gets the right answer.
    const otherLoop = (async () => {
      let reads = 0;
      while (!gone) {
        expect(await other.barRead32(0, REG.SCRATCH)).toBe(0x1234);
        reads++;
      }
      return reads;
    })();
    // DMA back and forth; part way, another process truncates the memfd through /proc.
    const dmaLoop = (async () => {
      for (let i = 0; !gone && i < 10_000; i++) {
        try {
          await startDma(victim, 0x8000, i % 2 === 0 ? 1 : 2);
          ok++;
        } catch {
          return;
        }
        if (i === 20) execFileSync('truncate', ['-s', '0', `/proc/${process.pid}/fd/${memfd.fd}`]);
      }
    })();
    await expectDroppedAfterDmaFailure(server, victim, 'dma(Read|Write)');
    await dmaLoop;
    gone = true;
    expect(await otherLoop).toBeGreaterThan(0);
    expect(ok).toBeGreaterThan(20);
    await expectServing(server, other, tmp);
  });

  it('a regular file truncated by another process', async () => {
    const { dir: tmp, server, other } = await setup();
    const victim = await client(tmp, 's0');
    const path = tmp.join('guest-ram');
    const n = openSync(path, 'w+');
    ftruncateSync(n, SIZE);
    const file = new OwnedFd(n);
    onTestFinished(() => closeSync(file.release()));
    await mapFd(victim, file);
    execFileSync('truncate', ['-s', '0', path]);
    await startDma(victim, 0x8000, 2);
    await expectDroppedAfterDmaFailure(server, victim, 'dmaWrite');
    await expectServing(server, other, tmp);
  });

  it('a memfd sealed against shrinking cannot be truncated: DMA keeps working', async () => {
    const { dir: tmp, server, other } = await setup({ requireSealedDmaFds: true });
    const victim = await client(tmp, 's0');
    const memfd = createMemfd('guest', { size: SIZE });
    onTestFinished(() => memfd.close());
    memfd.addSeals(Seal.SHRINK);
    await mapFd(victim, memfd);
    expect(() => memfd.truncate(0)).toThrow(/EPERM|not permitted/i);
    await startDma(victim, 0x8000, 1);
    await server.waitForOutput(/"dma":"dmaRead","endpoint":"s0","address":"0x100008000","result":"ok"/);
    expect(await victim.barRead32(0, REG.SCRATCH)).toBe(0);
    expect(server.stdout()).not.toContain('truncated');
    expect(await other.barRead32(0, REG.SCRATCH)).toBe(0x1234);
  });

  it('BAR memory shared with the client (sparse mmap) truncated by it: client dropped, others served', async () => {
    const { dir: tmp, server, other } = await setup({ sharedBar: true });
    const victim = await client(tmp, 's0');
    const info = await victim.call(Command.DeviceGetRegionInfo, { argsz: 64, index: 2 });
    expect(info.body.flags & RegionInfoFlags.Mmap).toBe(RegionInfoFlags.Mmap);
    const [barFd] = info.fds;
    onTestFinished(() => barFd?.close());
    const bar = MappedRegion.map(barFd!);
    onTestFinished(() => bar.unmap());
    bar.bytes()[0x10] = 0x42;
    expect([...(await victim.regionRead(2, 0x10n, 1))]).toEqual([0x42]);
    barFd!.truncate(0);
    // The server's next access to the BAR meets the truncated file.
    await victim.regionRead(2, 0x10n, 1).catch(() => undefined);
    await server.waitForOutput(
      /client truncated the shared memory of region 2 \(BAR2\): disconnecting the client/,
    );
    await closed(victim);
    await expectServing(server, other, tmp);
  });
});
