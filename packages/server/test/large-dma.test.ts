// DMA_MAP of client memory larger than one ArrayBuffer (guest RAM above 4 GiB): the server maps it
// and its device reaches every part of it. The server runs in its own process: before windows, such
// a map aborted the whole server in the native addon.
import { regs } from '@vfu/pci';
import { Command, DmaMapFlags } from '@vfu/protocol';
import { createMemfd, MappedRegion } from '@vfu/sys';
import { makeTempDir } from '@vfu/test-utils';
import { connect } from '@vfu/transport';
import { describe, expect, it, onTestFinished } from 'vitest';
import { TestClient } from './support/client';
import { REG } from './support/device';
import { startServerChild } from './support/server-child';

const GiB = 2 ** 30;
const IOVA = 1n << 40n;

async function dma(client: TestClient, addr: bigint, len: number, toClient: boolean): Promise<number> {
  await client.barWrite32(0, REG.DMA_ADDR_LO, Number(addr & 0xffffffffn));
  await client.barWrite32(0, REG.DMA_ADDR_HI, Number(addr >> 32n));
  await client.barWrite32(0, REG.DMA_LEN, len);
  await client.barWrite32(0, REG.DMA_CMD, toClient ? 2 : 1);
  for (;;) {
    const status = await client.barRead32(0, REG.DMA_STATUS);
    if (status !== 1) return status;
  }
}

describe('DMA_MAP larger than 4 GiB', () => {
  it.each([
    ['4 GiB + 4 KiB', 4 * GiB + 4096],
    ['64 GiB', 64 * GiB],
    ['1 TiB (sparse)', 1024 * GiB],
  ])('maps a %s memfd; device DMA reaches its far end and crosses windows', async (_name, size) => {
    const dir = makeTempDir('vfu-large-');
    onTestFinished(() => dir.remove());
    const server = await startServerChild(dir);
    const client = new TestClient(await connect(dir.join('s0.sock')));
    onTestFinished(() => client.close());
    const other = new TestClient(await connect(dir.join('s1.sock')));
    onTestFinished(() => other.close());
    await client.negotiate();
    await other.negotiate();
    await client.configWrite(regs.PCI_COMMAND, regs.PCI_COMMAND_MEMORY | regs.PCI_COMMAND_MASTER, 2);

    const memfd = createMemfd('guest-ram', { size });
    onTestFinished(() => memfd.close());
    const ram = MappedRegion.map(memfd);
    onTestFinished(() => ram.unmap());
    await client.call(
      Command.DmaMap,
      { argsz: 32, flags: DmaMapFlags.Read | DmaMapFlags.Write, offset: 0n, addr: IOVA, size: BigInt(size) },
      { fds: [memfd] },
    );

    // Device reads the last 0x100 bytes (far above 4 GiB) into its buffer.
    const tail = size - 0x100;
    const pattern = ram.bytes(tail, size);
    for (let i = 0; i < 0x100; i++) pattern[i] = (i * 13 + 1) & 0xff;
    expect(await dma(client, IOVA + BigInt(tail), 0x100, false)).toBe(2);
    const buffer = await client.regionRead(0, BigInt(REG.BUFFER), 0x100);
    expect([...buffer]).toEqual([...pattern]);

    // And writes it back across the boundary between two 1 GiB windows, and across 4 GiB.
    for (const at of [GiB - 0x80, 4 * GiB - 0x80]) {
      expect(await dma(client, IOVA + BigInt(at), 0x100, true)).toBe(2);
      expect([...ram.bytes(at, at + 0x100)]).toEqual([...pattern]);
    }
    await other.barWrite32(0, REG.SCRATCH, 0x5a5a);
    expect(await other.barRead32(0, REG.SCRATCH)).toBe(0x5a5a);
    expect(server.stderr()).toBe('');
  });
});
