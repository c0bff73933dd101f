import { join } from 'node:path';
import { Command, Errno, VfioPciIrq, VfioPciRegion } from '@vfu/protocol';
import { listOpenFds } from '@vfu/sys';
import {
  loadSharedVectors,
  loadVectorFile,
  recordPayload,
  sharedVectorsSkipReason,
  type VectorRecord,
} from '@vfu/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { isClientError, PciDeviceHandle, VfioUserClient } from '../src/index';
import { type ReplayServer, sendRecordedCommand, startReplayServer } from './replay-server';
import { FIXTURES_DIR } from './vectors';

const vectorsMissing = sharedVectorsSkipReason();
const shared = vectorsMissing === undefined ? loadSharedVectors() : new Map<string, VectorRecord[]>();
const serverClient = (shared.get('server_client.jsonl') ?? []).filter((r) => r.conn === 'src');
const gpioClient = shared.get('gpio_client.jsonl') ?? [];
const gpioTour = shared.get('gpio_tour.jsonl') ?? [];

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

async function replay(
  records: VectorRecord[],
  options: { extraRecords?: VectorRecord[]; passFds?: boolean; maxDataXferSize?: number } = {},
): Promise<{ client: VfioUserClient; server: ReplayServer }> {
  const { server, clientChannel } = startReplayServer(
    records,
    options.extraRecords ? { extraRecords: options.extraRecords } : {},
  );
  cleanup.push(() => server.close());
  const client = await VfioUserClient.fromChannel(clientChannel, {
    ...(options.passFds === undefined ? {} : { passFds: options.passFds }),
    ...(options.maxDataXferSize === undefined ? {} : { maxDataXferSize: options.maxDataXferSize }),
  });
  cleanup.push(() => client.close());
  return { client, server };
}

describe.skipIf(vectorsMissing !== undefined)('client against the server side of server_client.jsonl', () => {
  it('negotiates, enumerates, and mmaps the sparse areas of BAR1', async () => {
    const { client, server } = await replay(serverClient);
    expect(client.version).toEqual({ major: 0, minor: 2 });
    expect(client.serverCapabilities.migration).toEqual({ pgsize: 4096 });
    expect(client.negotiated.maxSendFds).toBe(8);
    expect(client.device).toMatchObject({ reset: true, pci: true, numRegions: 9, numIrqs: 5 });
    expect(client.regions.map((r) => r.size)).toEqual([8n, 0x4000n, 0n, 0n, 0n, 0n, 0n, 0x100n, 0n]);
    expect(client.irqs.map((i) => i.count)).toEqual([1, 0, 0, 1, 1]);
    const bar1 = client.region(1);
    expect(bar1.mmapAreas.length).toBe(2);
    // Through the mmap: the server's memfd sees what we write, with no message on the wire.
    const area = bar1.mmapAreas[0] as { offset: bigint; size: bigint };
    const before = server.received.length;
    await client.write32(1, area.offset, 0xcafef00d);
    expect(await client.read32(1, area.offset)).toBe(0xcafef00d);
    expect(server.received.length).toBe(before);
    expect(client.isMmapped(1, area.offset, 4)).toBe(true);
  });

  it('reads config space, resets, maps DMA with an fd and binds INTx to an eventfd', async () => {
    const { client, server } = await replay(serverClient);
    const pci = new PciDeviceHandle(client);
    const header = await pci.header();
    expect(header.vendorId).toBe(0xdead);
    expect(header.deviceId).toBe(0xbeef);
    await client.reset();
    expect(server.received).toContain(Command.DeviceReset);

    const ram = client.allocateMemory(0x10000);
    const mapping = await client.mapDma(ram, 0n, { size: 0x1000 });
    expect(server.dmaMaps[0]?.withFd).toBe(true);
    // Byte-identical to the sample client's first DMA_MAP.
    const recorded = serverClient.find((r) => r.cmd === Command.DmaMap && r.dir === 'c2s') as VectorRecord;
    expect(server.dmaMaps[0]?.payload).toEqual(recordPayload(recorded));

    await client.enableIrq(VfioPciIrq.Intx);
    const intx = new Promise<void>((resolve) => client.once('intx', resolve));
    server.eventfds.get(VfioPciIrq.Intx)?.[0]?.signal();
    await intx;

    await client.unmapDma(mapping);
    const unmap = serverClient.find((r) => r.cmd === Command.DmaUnmap && r.dir === 'c2s') as VectorRecord;
    // Byte-identical to the sample client's first DMA_UNMAP (addr 0, size 0x1000).
    expect(server.payloads.filter((p) => p.command === Command.DmaUnmap)[0]?.payload).toEqual(
      recordPayload(unmap),
    );
  });

  it('answers the recorded DMA_WRITE and DMA_READ requests byte for byte like the sample client', async () => {
    const { client, server } = await replay(serverClient, { maxDataXferSize: 1024 });
    const ram = client.allocateMemory(0x1000);
    await client.mapDma(ram, 0n, { viaMessages: true });
    const dma = serverClient.filter(
      (r) =>
        r.dir === 's2c' && r.type === 'command' && (r.cmd === Command.DmaWrite || r.cmd === Command.DmaRead),
    );
    expect(dma.length).toBe(8);
    for (const request of dma) {
      const expected = serverClient.find(
        (r) =>
          r.dir === 'c2s' &&
          r.type === 'reply' &&
          r.cmd === request.cmd &&
          r.msg_id === request.msg_id &&
          r.seq > request.seq,
      ) as VectorRecord;
      expect(await sendRecordedCommand(server, request)).toEqual(recordPayload(expected));
    }
    expect(ram.read(0x400, 4)).toEqual(Uint8Array.of(0x42, 0x42, 0x42, 0x42));
  });

  it('answers DMA outside every mapping with ENODEV and keeps serving', async () => {
    const { client, server } = await replay(serverClient, { passFds: false });
    const ram = client.allocateMemory(0x1000);
    await client.mapDma(ram, 0x10000n, { readOnly: true });
    expect(server.dmaMaps[0]?.withFd).toBe(false);
    const read = (address: bigint) => {
      const p = new Uint8Array(16);
      new DataView(p.buffer).setBigUint64(0, address, true);
      new DataView(p.buffer).setBigUint64(8, 4n, true);
      return server.channel.request(Command.DmaRead, p);
    };
    await expect(read(0x20000n)).rejects.toMatchObject({ code: 'ERROR_REPLY', errno: Errno.ENODEV });
    const write = new Uint8Array(20);
    new DataView(write.buffer).setBigUint64(0, 0x10000n, true);
    new DataView(write.buffer).setBigUint64(8, 4n, true);
    await expect(server.channel.request(Command.DmaWrite, write)).rejects.toMatchObject({
      errno: Errno.EPERM,
    });
    ram.writeU32(0, 0x11223344);
    const ok = await read(0x10000n);
    expect(ok.payload.subarray(16)).toEqual(Uint8Array.of(0x44, 0x33, 0x22, 0x11));
  });

  it('refuses fd-based DMA and eventfd interrupts when told to pass no fds', async () => {
    const { client } = await replay(serverClient, { passFds: false });
    const ram = client.allocateMemory(0x1000);
    await expect(client.mapDma(ram, 0n, { viaMessages: false })).rejects.toMatchObject({
      code: 'not-supported',
    });
    await expect(client.enableIrq(VfioPciIrq.Intx)).rejects.toMatchObject({ code: 'not-supported' });
  });

  it('leaves no fd open after close: channel, eventfds, region mmaps, guest memory', async () => {
    const before = listOpenFds().length;
    const { server, clientChannel } = startReplayServer(serverClient);
    const client = await VfioUserClient.fromChannel(clientChannel);
    const ram = client.allocateMemory(0x4000);
    await client.mapDma(ram, 0n);
    await client.enableIrq(VfioPciIrq.Intx);
    await client.close();
    server.close();
    expect(ram.closed).toBe(true);
    expect(listOpenFds().length).toBe(before);
  });

  it('fails pending requests cleanly when the server dies', async () => {
    const { server, clientChannel } = startReplayServer(serverClient);
    const client = await VfioUserClient.fromChannel(clientChannel);
    cleanup.push(() => client.close());
    const disconnected = new Promise((resolve) => client.once('disconnect', resolve));
    server.channel.onRequest(() => new Promise(() => {})); // never answers
    const pending = client.read32(VfioPciRegion.Config, 0);
    server.close();
    const error = await pending.catch((e) => e);
    expect(isClientError(error)).toBe(true);
    expect(error.code).toBe('disconnected');
    expect(await disconnected).toMatchObject({ code: 'disconnected' });
    expect(client.closed).toBe(true);
    await expect(client.read32(VfioPciRegion.Config, 0)).rejects.toMatchObject({ code: 'closed' });
  });
});

describe.skipIf(vectorsMissing !== undefined)('client against the server side of gpio_client.jsonl', () => {
  for (const [name, records] of [
    ['shared', gpioClient],
    ['fixture', loadVectorFile(join(FIXTURES_DIR, 'gpio_client.jsonl'))],
  ] as const) {
    it(`enumerates the PCI-IDIO-16 sample (${name} copy) and finds its IO BAR2`, async () => {
      // gpio_client.jsonl ends before IRQ_INFO: those replies come from the tour against the same sample.
      const irqInfos = gpioTour.filter((r) => r.cmd === Command.DeviceGetIrqInfo);
      const { client } = await replay(records, { extraRecords: irqInfos });
      expect(client.region(2)).toMatchObject({ name: 'BAR2', size: 0x100n, mmappable: false });
      const pci = new PciDeviceHandle(client);
      const header = await pci.header();
      expect(header).toMatchObject({ vendorId: 0x494f, deviceId: 0x0dc8 });
    });
  }
});
