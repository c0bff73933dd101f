import { regs } from '@vfu/pci';
import { Command, DmaMapFlags, DmaUnmapFlags, Errno } from '@vfu/protocol';
import { createMemfd, listOpenFds, MappedRegion, Seal } from '@vfu/sys';
import { describe, expect, onTestFinished, test } from 'vitest';
import { TestClient, until } from '../test/support/client';
import { DEVICE_ID_VALUE, REG, type TestDevice } from '../test/support/device';
import { connected, makeEndpoint } from '../test/support/endpoint';

const RW = DmaMapFlags.Read | DmaMapFlags.Write;

function memfd(size: number) {
  const fd = createMemfd('dma', { size });
  const view = MappedRegion.map(fd);
  onTestFinished(() => {
    view.unmap();
    if (!fd.closed) fd.close();
  });
  return { fd, bytes: view.bytes() };
}

/** Runs one device DMA (1: client memory -> device buffer, 2: buffer -> client memory). */
async function deviceDma(client: TestClient, device: TestDevice, addr: bigint, len: number, cmd: 1 | 2) {
  await client.barWrite32(0, REG.DMA_ADDR_LO, Number(addr & 0xffffffffn));
  await client.barWrite32(0, REG.DMA_ADDR_HI, Number(addr >> 32n));
  await client.barWrite32(0, REG.DMA_LEN, len);
  await client.barWrite32(0, REG.DMA_CMD, cmd);
  return device.lastDma;
}

async function busMaster(client: TestClient) {
  await client.configWrite(regs.PCI_COMMAND, regs.PCI_COMMAND_MASTER | regs.PCI_COMMAND_MEMORY, 2);
}

function map(
  client: TestClient,
  addr: bigint,
  size: bigint,
  opts: { flags?: number; offset?: bigint; fd?: { fd: number } } = {},
) {
  return client.errno(
    Command.DmaMap,
    { argsz: 32, flags: opts.flags ?? RW, offset: opts.offset ?? 0n, addr, size },
    opts.fd ? { fds: [opts.fd.fd] } : {},
  );
}

describe('DMA_MAP with an fd', () => {
  test('the device reads and writes client memory directly', async () => {
    const { client, device, server } = await connected();
    await busMaster(client);
    const mem = memfd(0x4000);
    mem.bytes.set([1, 2, 3, 4, 5], 0x1000);
    expect(await map(client, 0x10000n, 0x4000n, { fd: mem.fd })).toBe(0);
    expect(server.dmaMappings).toMatchObject([{ iova: 0x10000n, size: 0x4000n, mapped: true }]);
    expect(await deviceDma(client, device, 0x11000n, 5, 1)).toBe('ok');
    expect([...device.buffer.subarray(0, 5)]).toEqual([1, 2, 3, 4, 5]);
    device.buffer.set([9, 8, 7]);
    expect(await deviceDma(client, device, 0x13ffdn, 3, 2)).toBe('ok');
    expect([...mem.bytes.subarray(0x3ffd, 0x4000)]).toEqual([9, 8, 7]);
    expect(server.stats().dmaRegions).toBe(1);
  });

  test('an fd offset inside a page is honoured', async () => {
    const { client, device } = await connected();
    await busMaster(client);
    const mem = memfd(0x3000);
    mem.bytes[0x1800] = 0xab;
    expect(await map(client, 0x20000n, 0x1000n, { fd: mem.fd, offset: 0x1800n })).toBe(0);
    expect(await deviceDma(client, device, 0x20000n, 1, 1)).toBe('ok');
    expect(device.buffer[0]).toBe(0xab);
  });

  test('a read-only mapping refuses device writes and leaves memory untouched', async () => {
    const { client, device } = await connected();
    await busMaster(client);
    const mem = memfd(0x1000);
    expect(await map(client, 0x10000n, 0x1000n, { fd: mem.fd, flags: DmaMapFlags.Read })).toBe(0);
    device.buffer.fill(0xee);
    expect(await deviceDma(client, device, 0x10000n, 4, 2)).toBe('access-error');
    expect(mem.bytes[0]).toBe(0);
    expect(await deviceDma(client, device, 0x10000n, 4, 1)).toBe('ok');
  });

  test('a range past the end of the file is refused, and the fd is closed', async () => {
    const { client } = await connected();
    const mem = memfd(0x1000);
    const before = listOpenFds().length;
    expect(await map(client, 0x10000n, 0x2000n, { fd: mem.fd })).toBe(Errno.EINVAL);
    expect(listOpenFds().length).toBe(before);
  });

  test('unmap closes the fd and the range becomes unassigned for the device', async () => {
    const { client, device, server } = await connected();
    await busMaster(client);
    const mem = memfd(0x1000);
    const before = listOpenFds().length;
    expect(await map(client, 0x10000n, 0x1000n, { fd: mem.fd })).toBe(0);
    expect(listOpenFds().length).toBe(before + 1);
    const r = await client.call(Command.DmaUnmap, { argsz: 24, flags: 0, addr: 0x10000n, size: 0x1000n });
    expect(r.body).toEqual({ argsz: 24, flags: 0, addr: 0x10000n, size: 0x1000n });
    expect(listOpenFds().length).toBe(before);
    expect(server.dmaMappings).toHaveLength(0);
    expect(await deviceDma(client, device, 0x10000n, 4, 1)).toBe('decode-error');
  });
});

describe('DMA_MAP without an fd (DMA_READ / DMA_WRITE messages)', () => {
  test('accesses become messages chunked to the client max_data_xfer_size', async () => {
    const { device, server } = makeEndpoint();
    const c2 = TestClient.attach(server);
    onTestFinished(() => c2.close());
    await c2.negotiate({ maxMsgFds: 8, maxDataXferSize: 64 });
    await busMaster(c2);
    const bytes = Uint8Array.from({ length: 0x1000 }, (_, i) => (i * 7) & 0xff);
    c2.memory = [{ iova: 0x40000n, bytes }];
    expect(await map(c2, 0x40000n, 0x1000n)).toBe(0);
    expect(await deviceDma(c2, device, 0x40010n, 200, 1)).toBe('ok');
    expect([...device.buffer.subarray(0, 200)]).toEqual([...bytes.subarray(0x10, 0x10 + 200)]);
    expect(c2.dmaLog).toEqual(['read@40010+64', 'read@40050+64', 'read@40090+64', 'read@400d0+8']);
    c2.dmaLog.length = 0;
    device.buffer.fill(0x5a);
    expect(await deviceDma(c2, device, 0x40800n, 100, 2)).toBe('ok');
    expect(c2.dmaLog).toEqual(['write@40800+64', 'write@40840+36']);
    expect([...bytes.subarray(0x800, 0x800 + 100)].every((b) => b === 0x5a)).toBe(true);
  });

  test('a client error reply fails the device access cleanly; permissions are checked before any message', async () => {
    const { client, device } = await connected();
    await busMaster(client);
    client.memory = [{ iova: 0x40000n, bytes: new Uint8Array(0x1000) }];
    expect(await map(client, 0x40000n, 0x1000n, { flags: DmaMapFlags.Write })).toBe(0);
    expect(await deviceDma(client, device, 0x40000n, 4, 1)).toBe('access-error');
    expect(client.dmaLog).toEqual([]);
    client.dmaErrno = Errno.EFAULT;
    expect(await deviceDma(client, device, 0x40000n, 4, 2)).toBe('access-error');
    expect(client.dmaLog).toEqual(['write@40000+4']);
    expect(await client.barRead32(0, REG.DMA_STATUS)).toBe(3);
  });

  test('a DMA_READ reply naming another range, or short of data, fails the device access; the endpoint keeps serving', async () => {
    const { client, device } = await connected();
    await busMaster(client);
    expect(await map(client, 0x40000n, 0x1000n)).toBe(0);
    const replies = [
      // The echo names another address.
      { address: 0x40100n, count: 4n, data: Uint8Array.of(1, 2, 3, 4) },
      // The echo is right but two bytes are missing.
      { address: 0x40000n, count: 4n, data: Uint8Array.of(1, 2) },
    ];
    for (const body of replies) {
      client.channel.onRequest(() => {
        const bytes = new Uint8Array(16 + body.data.length);
        const v = new DataView(bytes.buffer);
        v.setBigUint64(0, body.address, true);
        v.setBigUint64(8, body.count, true);
        bytes.set(body.data, 16);
        return { payload: bytes };
      });
      device.buffer.fill(0);
      expect(await deviceDma(client, device, 0x40000n, 4, 1)).not.toBe('ok');
      expect([...device.buffer.subarray(0, 4)]).toEqual([0, 0, 0, 0]);
      expect(await client.barRead32(0, REG.ID)).toBe(DEVICE_ID_VALUE);
    }
  });

  test('an identical re-map is accepted, an overlapping one is EEXIST', async () => {
    const { client } = await connected();
    expect(await map(client, 0x40000n, 0x1000n)).toBe(0);
    expect(await map(client, 0x40000n, 0x1000n)).toBe(0);
    expect(await map(client, 0x40800n, 0x1000n)).toBe(Errno.EEXIST);
    expect(await map(client, 0x3f000n, 0x2000n)).toBe(Errno.EEXIST);
    expect(await map(client, 0x41000n, 0x1000n)).toBe(0);
  });

  test('unmap waits for DMA in flight on the range before replying, and later requests wait for it', async () => {
    const { client, device } = await connected();
    await busMaster(client);
    client.memory = [{ iova: 0x40000n, bytes: new Uint8Array(0x1000).fill(3) }];
    expect(await map(client, 0x40000n, 0x1000n)).toBe(0);
    let open!: () => void;
    client.dmaGate = new Promise((r) => {
      open = r;
    });
    const events: string[] = [];
    const dma = deviceDma(client, device, 0x40000n, 16, 1).then((r) => events.push(`dma ${r}`));
    await until(() => client.dmaArrived === 1);
    const unmap = client
      .call(Command.DmaUnmap, { argsz: 24, flags: 0, addr: 0x40000n, size: 0x1000n })
      .then(() => events.push('unmap replied'));
    // Pipelined behind the unmap: must not overtake it.
    const read = client.barRead32(0, REG.ID).then(() => events.push('read replied'));
    await new Promise((r) => setTimeout(r, 20));
    expect(events).toEqual([]);
    events.push('client answers');
    open();
    await Promise.all([dma, unmap, read]);
    expect(events).toEqual(['client answers', 'dma ok', 'unmap replied', 'read replied']);
  });
});

describe('DMA_UNMAP', () => {
  test('no exact match is ENOENT; ALL removes everything', async () => {
    const { client, server } = await connected();
    expect(await map(client, 0x10000n, 0x1000n)).toBe(0);
    expect(await map(client, 0x20000n, 0x1000n)).toBe(0);
    expect(await client.errno(Command.DmaUnmap, { argsz: 24, flags: 0, addr: 0x10000n, size: 0x800n })).toBe(
      Errno.ENOENT,
    );
    expect(await client.errno(Command.DmaUnmap, { argsz: 24, flags: 0, addr: 0x30000n, size: 0x1000n })).toBe(
      Errno.ENOENT,
    );
    expect(
      await client.errno(Command.DmaUnmap, { argsz: 24, flags: DmaUnmapFlags.All, addr: 0n, size: 0n }),
    ).toBe(0);
    expect(server.dmaMappings).toHaveLength(0);
  });

  test('no partial unmap: a sub-range inside a mapping or a range over two mappings is ENOENT, and both stay', async () => {
    const { client, server } = await connected();
    expect(await map(client, 0x10000n, 0x2000n)).toBe(0);
    expect(await map(client, 0x12000n, 0x1000n)).toBe(0);
    const unmap = (addr: bigint, size: bigint) =>
      client.errno(Command.DmaUnmap, { argsz: 24, flags: 0, addr, size });
    expect(await unmap(0x11000n, 0x1000n)).toBe(Errno.ENOENT);
    expect(await unmap(0x10000n, 0x3000n)).toBe(Errno.ENOENT);
    expect(await unmap(0x10000n, 0x1000n)).toBe(Errno.ENOENT);
    expect(server.dmaMappings.map((m) => [m.iova, m.size])).toEqual([
      [0x10000n, 0x2000n],
      [0x12000n, 0x1000n],
    ]);
    expect(await unmap(0x12000n, 0x1000n)).toBe(0);
    expect(await unmap(0x12000n, 0x1000n)).toBe(Errno.ENOENT);
  });

  test('an overlapping map with an fd is EEXIST and the fd is closed; the first mapping is untouched', async () => {
    const { client, device } = await connected();
    await busMaster(client);
    const a = memfd(0x2000);
    const b = memfd(0x2000);
    a.bytes[0x1000] = 0x11;
    expect(await map(client, 0x10000n, 0x2000n, { fd: a.fd })).toBe(0);
    const before = listOpenFds().length;
    expect(await map(client, 0x11000n, 0x2000n, { fd: b.fd })).toBe(Errno.EEXIST);
    expect(await map(client, 0x10000n, 0x2000n, { fd: b.fd })).toBe(Errno.EEXIST);
    expect(listOpenFds().length).toBe(before);
    expect(await deviceDma(client, device, 0x11000n, 1, 1)).toBe('ok');
    expect(device.buffer[0]).toBe(0x11);
  });

  test('a burst of pipelined DMA_MAP/DMA_UNMAP is handled in arrival order, each answered', async () => {
    const { client, server } = await connected();
    const calls: Promise<number>[] = [];
    for (let i = 0n; i < 32n; i++) {
      const addr = 0x100000n + i * 0x1000n;
      calls.push(client.errno(Command.DmaMap, { argsz: 32, flags: RW, offset: 0n, addr, size: 0x1000n }));
      // Every other range is unmapped again right behind its map, without waiting.
      if (i % 2n === 0n)
        calls.push(client.errno(Command.DmaUnmap, { argsz: 24, flags: 0, addr, size: 0x1000n }));
    }
    // And a map that collides with the last one still mapped, queued behind all of them.
    calls.push(
      client.errno(Command.DmaMap, { argsz: 32, flags: RW, offset: 0n, addr: 0x11f000n, size: 0x2000n }),
    );
    const results = await Promise.all(calls);
    expect(results.slice(0, -1).every((r) => r === 0)).toBe(true);
    expect(results.at(-1)).toBe(Errno.EEXIST);
    expect(server.dmaMappings.map((m) => m.iova)).toEqual(
      Array.from({ length: 16 }, (_, k) => 0x100000n + BigInt(2 * k + 1) * 0x1000n),
    );
  });

  test('the dirty-bitmap form is ENOTSUP', async () => {
    const { client } = await connected();
    expect(await map(client, 0x10000n, 0x1000n)).toBe(0);
    expect(
      await client.errno(Command.DmaUnmap, {
        argsz: 48,
        flags: DmaUnmapFlags.GetDirtyBitmap,
        addr: 0x10000n,
        size: 0x1000n,
        bitmap: { pgsize: 4096n, size: 8n },
      }),
    ).toBe(Errno.ENOTSUP);
  });

  test('max_dma_maps is enforced with ENOSPC', async () => {
    const { client } = await connected({ limits: { maxDmaMaps: 2 } });
    expect(await map(client, 0x10000n, 0x1000n)).toBe(0);
    expect(await map(client, 0x20000n, 0x1000n)).toBe(0);
    expect(await map(client, 0x30000n, 0x1000n)).toBe(Errno.ENOSPC);
    expect(await client.errno(Command.DmaUnmap, { argsz: 24, flags: 0, addr: 0x10000n, size: 0x1000n })).toBe(
      0,
    );
    expect(await map(client, 0x30000n, 0x1000n)).toBe(0);
  });

  test('a map with neither READ nor WRITE is EINVAL', async () => {
    const { client } = await connected();
    expect(await map(client, 0x10000n, 0x1000n, { flags: 0 })).toBe(Errno.EINVAL);
  });
});

describe('fd trust', () => {
  test('requireSealedDmaFds refuses an fd without F_SEAL_SHRINK with EPERM and accepts a sealed one', async () => {
    const { client, logs } = await connected({ requireSealedDmaFds: true });
    const loose = memfd(0x1000);
    expect(await map(client, 0x10000n, 0x1000n, { fd: loose.fd })).toBe(Errno.EPERM);
    const sealed = createMemfd('sealed', { size: 0x1000 });
    onTestFinished(() => sealed.close());
    sealed.addSeals(Seal.SHRINK);
    expect(await map(client, 0x10000n, 0x1000n, { fd: sealed })).toBe(0);
    expect(logs.filter((l) => l.startsWith('warn:'))).toEqual([]);
  });

  test('by default an unsealed fd is mapped with one warning', async () => {
    const { client, logs } = await connected();
    const a = memfd(0x1000);
    const b = memfd(0x1000);
    expect(await map(client, 0x10000n, 0x1000n, { fd: a.fd })).toBe(0);
    expect(await map(client, 0x20000n, 0x1000n, { fd: b.fd })).toBe(0);
    expect(logs.filter((l) => l.startsWith('warn:') && l.includes('not sealed'))).toHaveLength(1);
  });
});
