import { PciRootBus } from '@vfu/pci';
import { Command, DmaMapFlags, Errno } from '@vfu/protocol';
import { createMemfd } from '@vfu/sys';
import { describe, expect, onTestFinished, test } from 'vitest';
import { connected } from '../test/support/endpoint';
import { REPORT_SLICE } from './client-ram';
import { DmaController } from './dma';

const control = (pageSize: bigint) => ({
  argsz: 24,
  feature: 6,
  get: false,
  set: true,
  probe: false,
  data: { kind: 'dma-logging-control' as const, pageSize, ranges: [] },
});
const report = (iova: bigint, length: bigint, pageSize: bigint) => ({
  argsz: 1 << 30,
  feature: 8,
  get: true,
  set: false,
  probe: false,
  data: { kind: 'dma-logging-report' as const, iova, length, pageSize },
});

describe('DMA logging bounds', () => {
  test('page sizes below 4 KiB are EINVAL at START and REPORT, and logging does not start', async () => {
    const { client } = await connected();
    const fd = createMemfd('logged', { size: 256 * 1024 * 1024 });
    onTestFinished(() => fd.close());
    const size = 256n * 1024n * 1024n;
    await client.call(Command.DmaMap, { argsz: 32, flags: 3, offset: 0n, addr: 0n, size }, { fds: [fd] });
    for (const p of [1n, 2n, 2048n])
      expect(await client.errno(Command.DeviceFeature, control(p))).toBe(Errno.EINVAL);
    // Not started: a report is refused as such.
    expect(await client.errno(Command.DeviceFeature, report(0n, size, 4096n))).toBe(Errno.EINVAL);
    expect(await client.errno(Command.DeviceFeature, control(4096n))).toBe(0);
    expect(await client.errno(Command.DeviceFeature, report(0n, size, 1n))).toBe(Errno.EINVAL);
    expect(await client.errno(Command.DeviceFeature, report(0n, size, 4096n))).toBe(0);
  });

  test('a report larger than one slice yields to the event loop and is still exact', async () => {
    const bus = new PciRootBus({ id: 'b0' });
    const messenger = {
      maxTransferSize: 4096,
      read: () => Promise.reject(new Error('unused')),
      write: () => Promise.reject(new Error('unused')),
    };
    const dma = new DmaController(bus, messenger, 16);
    // Enough 4 KiB pages that scanning them alone takes several slices.
    const pages = (REPORT_SLICE / 8) * 4 * 8;
    const size = BigInt(pages) * 4096n;
    const fd = createMemfd('logged', { size: Number(size) });
    dma.map({ argsz: 32, flags: DmaMapFlags.Read | DmaMapFlags.Write, offset: 0n, addr: 0n, size }, fd);
    onTestFinished(() => dma.unmapAll());
    dma.startLogging(4096n);
    const region = dma.mappings[0]!.region;
    const dirty = [0, 1, pages / 2, pages - 1];
    for (const p of dirty) region.markDirty(BigInt(p) * 4096n, 1n);
    let ticked = false;
    setImmediate(() => {
      ticked = true;
    });
    let tickedBeforeDone: boolean | undefined;
    const bitmap = await dma.loggingReport(0n, size, 4096n).then((b) => {
      tickedBeforeDone = ticked;
      return b;
    });
    expect(tickedBeforeDone).toBe(true);
    const set: number[] = [];
    for (let i = 0; i < pages; i++) if ((bitmap[i >>> 3]! & (1 << (i & 7))) !== 0) set.push(i);
    expect(set).toEqual(dirty);
  });
});
