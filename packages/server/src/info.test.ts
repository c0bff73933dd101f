import {
  Command,
  DeviceInfoFlags,
  Errno,
  IrqInfoFlags,
  RegionCapId,
  RegionInfoFlags,
  VfioPciIrq,
  VfioPciRegion,
} from '@vfu/protocol';
import { createMemfd, MappedRegion } from '@vfu/sys';
import { describe, expect, onTestFinished, test } from 'vitest';
import { TestClient } from '../test/support/client';
import { testTree } from '../test/support/device';
import { connected, makeEndpoint } from '../test/support/endpoint';

describe('DEVICE_GET_INFO', () => {
  test('reports a resettable PCI device with 9 regions and 5 IRQ indexes', async () => {
    const { client } = await connected();
    const r = await client.call(Command.DeviceGetInfo, { argsz: 16 });
    expect(r.body).toEqual({
      argsz: 16,
      flags: DeviceInfoFlags.Pci | DeviceInfoFlags.Reset,
      numRegions: 9,
      numIrqs: 5,
    });
  });

  test('a larger argsz still gets the 16-byte reply; a smaller one EINVAL', async () => {
    const { client } = await connected();
    expect((await client.call(Command.DeviceGetInfo, { argsz: 64 })).body.argsz).toBe(16);
    expect(await client.errno(Command.DeviceGetInfo, { argsz: 8 })).toBe(Errno.EINVAL);
  });
});

describe('DEVICE_GET_REGION_INFO', () => {
  test('BARs, ROM and config space carry their sizes and access flags', async () => {
    const { client } = await connected();
    const info = async (index: number) =>
      (await client.call(Command.DeviceGetRegionInfo, { argsz: 32, index })).body;
    const rw = RegionInfoFlags.Read | RegionInfoFlags.Write;
    expect(await info(VfioPciRegion.Bar0)).toMatchObject({
      index: 0,
      size: 0x1000n,
      flags: rw,
      capabilities: [],
    });
    expect(await info(VfioPciRegion.Bar1)).toMatchObject({ size: 0x20n, flags: rw });
    expect(await info(VfioPciRegion.Bar2)).toMatchObject({ size: 0x2000n, flags: rw });
    // Upper half of the 64-bit BAR2, and a BAR the device does not have.
    expect(await info(VfioPciRegion.Bar3)).toMatchObject({ size: 0n, flags: 0 });
    expect(await info(VfioPciRegion.Bar5)).toMatchObject({ size: 0n, flags: 0 });
    expect(await info(VfioPciRegion.Rom)).toMatchObject({ size: 0x800n, flags: RegionInfoFlags.Read });
    expect(await info(VfioPciRegion.Config)).toMatchObject({ size: 256n, flags: rw });
    expect(await info(VfioPciRegion.Vga)).toMatchObject({ size: 0n, flags: 0 });
  });

  test('an index past the PCI regions is EINVAL', async () => {
    const { client } = await connected();
    expect(await client.errno(Command.DeviceGetRegionInfo, { argsz: 32, index: 9 })).toBe(Errno.EINVAL);
    expect(await client.errno(Command.DeviceGetRegionInfo, { argsz: 32, index: 0xffffffff })).toBe(
      Errno.EINVAL,
    );
  });

  test('a RAM BAR with shared memory is offered as a sparse mmap area with its fd', async () => {
    const memfd = createMemfd('bar2', { size: 0x3000 });
    const mapping = MappedRegion.map(memfd);
    onTestFinished(() => {
      mapping.unmap();
      memfd.close();
    });
    // BAR2's RAM lives at file offset 0x1000 of the memfd.
    const tree = testTree(mapping.bytes(0x1000, 0x3000));
    const { client, device } = await connected({
      tree,
      resolveRegionFd: (region) => (region === device.ram ? { fd: memfd, offset: 0x1000n } : undefined),
    });
    // Too small for the capability: MMAP set, no caps, no fd, argsz says what is needed.
    const short = await client.call(Command.DeviceGetRegionInfo, { argsz: 32, index: 2 });
    expect(short.body).toMatchObject({
      argsz: 64,
      flags: RegionInfoFlags.Read | RegionInfoFlags.Write | RegionInfoFlags.Mmap,
    });
    expect(short.fds).toHaveLength(0);
    const full = await client.call(Command.DeviceGetRegionInfo, { argsz: 64, index: 2 });
    expect(full.body.flags & RegionInfoFlags.Caps).toBe(RegionInfoFlags.Caps);
    expect(full.body.offset).toBe(0x1000n);
    expect(full.body.capabilities).toEqual([
      { id: RegionCapId.SparseMmap, version: 1, areas: [{ offset: 0n, size: 0x2000n }] },
    ]);
    expect(full.fds).toHaveLength(1);
    // The client maps the fd at the region offset and sees what the device sees.
    const view = MappedRegion.map(full.fds[0]!, { offset: 0x1000, length: 0x2000 });
    device.ram!.ramBuffer![0x10] = 0x77;
    expect(view.bytes()[0x10]).toBe(0x77);
    view.unmap();
    for (const fd of full.fds) fd.close();
    // BAR0 is MMIO: never mappable.
    const bar0 = await client.call(Command.DeviceGetRegionInfo, { argsz: 256, index: 0 });
    expect(bar0.body.flags & RegionInfoFlags.Mmap).toBe(0);
    expect(bar0.fds).toHaveLength(0);
  });
});

describe('fd limits of the client', () => {
  test('a client that takes no fds (max_msg_fds 0) gets a shared-memory BAR trapped: no MMAP, no fd, still accessible', async () => {
    const memfd = createMemfd('bar2', { size: 0x3000 });
    const mapping = MappedRegion.map(memfd);
    onTestFinished(() => {
      mapping.unmap();
      memfd.close();
    });
    const tree = testTree(mapping.bytes(0x1000, 0x3000));
    const ep = makeEndpoint({
      tree,
      resolveRegionFd: (region) => (region === ep.device.ram ? { fd: memfd, offset: 0x1000n } : undefined),
    });
    const client = TestClient.attach(ep.server);
    onTestFinished(() => client.close());
    await client.negotiate({ maxMsgFds: 0 });
    const info = await client.call(Command.DeviceGetRegionInfo, { argsz: 64, index: 2 });
    expect(info.body).toMatchObject({ argsz: 32, flags: RegionInfoFlags.Read | RegionInfoFlags.Write });
    expect(info.fds).toHaveLength(0);
    ep.device.ram!.ramBuffer![0x20] = 0x66;
    expect([...(await client.regionRead(2, 0x20n, 1))]).toEqual([0x66]);
  });
});

describe('DEVICE_GET_REGION_IO_FDS', () => {
  test('answers no io fds for an implemented region', async () => {
    const { client } = await connected();
    const r = await client.call(Command.DeviceGetRegionIoFds, { argsz: 256, index: 0 });
    expect(r.body).toMatchObject({ argsz: 16, index: 0, count: 0, subRegions: [] });
    expect(r.fds).toHaveLength(0);
  });

  test('an unimplemented or unknown region is EINVAL', async () => {
    const { client } = await connected();
    expect(await client.errno(Command.DeviceGetRegionIoFds, { argsz: 256, index: 5 })).toBe(Errno.EINVAL);
    expect(await client.errno(Command.DeviceGetRegionIoFds, { argsz: 256, index: 12 })).toBe(Errno.EINVAL);
  });
});

describe('DEVICE_GET_IRQ_INFO', () => {
  test('counts and flags per index', async () => {
    const { client } = await connected();
    const info = async (index: number) =>
      (await client.call(Command.DeviceGetIrqInfo, { argsz: 16, index })).body;
    expect(await info(VfioPciIrq.Intx)).toEqual({
      argsz: 16,
      index: 0,
      count: 1,
      flags: IrqInfoFlags.Eventfd | IrqInfoFlags.Maskable | IrqInfoFlags.Automasked,
    });
    expect(await info(VfioPciIrq.Msi)).toMatchObject({
      count: 2,
      flags: IrqInfoFlags.Eventfd | IrqInfoFlags.Maskable | IrqInfoFlags.NoResize,
    });
    expect(await info(VfioPciIrq.Msix)).toMatchObject({ count: 4 });
    expect(await info(VfioPciIrq.Err)).toMatchObject({ count: 1, flags: IrqInfoFlags.Eventfd });
    expect(await info(VfioPciIrq.Req)).toMatchObject({ count: 1, flags: IrqInfoFlags.Eventfd });
  });

  test('index 5 and beyond is EINVAL', async () => {
    const { client } = await connected();
    expect(await client.errno(Command.DeviceGetIrqInfo, { argsz: 16, index: 5 })).toBe(Errno.EINVAL);
  });
});
