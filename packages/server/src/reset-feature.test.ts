import { regs } from '@vfu/pci';
import { Command, Errno, VfioPciIrq } from '@vfu/protocol';
import { createMemfd, EventFd } from '@vfu/sys';
import { describe, expect, onTestFinished, test } from 'vitest';
import { le } from '../test/support/client';
import { REG } from '../test/support/device';
import { connected } from '../test/support/endpoint';

describe('DEVICE_RESET', () => {
  test('warm-resets the device: registers, Command, BAR mappings; DMA maps and eventfds stay', async () => {
    const { client, device, server } = await connected();
    await client.barWrite32(0, REG.SCRATCH, 5);
    await client.configWrite(regs.PCI_BASE_ADDRESS_0, 0xfe000000, 4);
    await client.configWrite(regs.PCI_COMMAND, regs.PCI_COMMAND_MEMORY, 2);
    expect(
      await client.errno(Command.DmaMap, { argsz: 32, flags: 3, offset: 0n, addr: 0x1000n, size: 0x1000n }),
    ).toBe(0);
    const efd = EventFd.create();
    await client.call(
      Command.DeviceSetIrqs,
      { argsz: 20, action: 'trigger', dataType: 'eventfd', index: 0, start: 0, count: 1 },
      { fds: [efd] },
    );
    await client.call(Command.DeviceReset, {});
    expect(device.resets).toEqual(['warm']);
    expect(await client.barRead32(0, REG.SCRATCH)).toBe(0);
    expect(await client.configRead(regs.PCI_COMMAND, 2)).toBe(0);
    expect(server.bus.memoryAddressSpace.read(0xfe000000n, new Uint8Array(4))).toBe('decode-error');
    expect(server.dmaMappings).toHaveLength(1);
    expect(server.irqState(VfioPciIrq.Intx).triggers).toEqual([true]);
    efd.close();
  });
});

describe('DEVICE_FEATURE: migration', () => {
  test('migration features are refused with EINVAL, and so is migration data', async () => {
    const { client } = await connected();
    const probe = (feature: number) =>
      client.errno(Command.DeviceFeature, { argsz: 8, feature, get: false, set: false, probe: true });
    expect(await probe(1)).toBe(Errno.EINVAL);
    expect(await probe(2)).toBe(Errno.EINVAL);
    expect(await probe(0)).toBe(Errno.EINVAL);
    expect(
      await client.errno(Command.DeviceFeature, {
        argsz: 16,
        feature: 2,
        get: false,
        set: true,
        probe: false,
        data: { kind: 'mig-device-state', deviceState: 1, dataFd: -1 },
      }),
    ).toBe(Errno.EINVAL);
    expect(await client.errno(Command.MigDataRead, { argsz: 16, size: 8 })).toBe(Errno.EINVAL);
    expect(
      await client.errno(Command.MigDataWrite, { argsz: 12, size: 4, data: Uint8Array.of(1, 2, 3, 4) }),
    ).toBe(Errno.EINVAL);
    expect(await client.barRead32(0, REG.ID)).not.toBe(0);
  });
});

describe('DEVICE_FEATURE: DMA logging', () => {
  const control = (feature: 6 | 7, pageSize = 4096n) => ({
    argsz: 24,
    feature,
    get: false,
    set: true,
    probe: false,
    data: { kind: 'dma-logging-control' as const, pageSize, ranges: [] },
  });
  const report = (iova: bigint, length: bigint, pageSize = 4096n, argsz = 4096) => ({
    argsz,
    feature: 8,
    get: true,
    set: false,
    probe: false,
    data: { kind: 'dma-logging-report' as const, iova, length, pageSize },
  });

  async function withMemory() {
    const ctx = await connected();
    const fd = createMemfd('logged', { size: 0x10000 });
    onTestFinished(() => fd.close());
    await ctx.client.call(
      Command.DmaMap,
      { argsz: 32, flags: 3, offset: 0n, addr: 0x100000n, size: 0x10000n },
      { fds: [fd] },
    );
    await ctx.client.configWrite(regs.PCI_COMMAND, regs.PCI_COMMAND_MASTER, 2);
    return ctx;
  }

  test('PROBE succeeds for START, STOP and REPORT with their operations only', async () => {
    const { client } = await connected();
    const probe = (feature: number, get: boolean, set: boolean) =>
      client.errno(Command.DeviceFeature, { argsz: 8, feature, get, set, probe: true });
    expect(await probe(6, false, true)).toBe(0);
    expect(await probe(7, false, true)).toBe(0);
    expect(await probe(8, true, false)).toBe(0);
    expect(await probe(8, false, true)).toBe(Errno.EINVAL);
    expect(await probe(6, true, false)).toBe(Errno.EINVAL);
  });

  test('a PROBE is answered with its own request, byte for byte', async () => {
    const { client } = await connected();
    for (const flags of [0x40006, 0x60007, 0x50008]) {
      const request = Uint8Array.of(8, 0, 0, 0, ...le(flags, 4));
      const reply = await client.channel.request(Command.DeviceFeature, request);
      expect([...reply.payload]).toEqual([...request]);
    }
  });

  test('PROBE of GET and SET together, or GET/SET without PROBE of an operation the feature lacks, is EINVAL', async () => {
    const { client } = await connected();
    const op = (feature: number, get: boolean, set: boolean, probe: boolean) =>
      client.errno(Command.DeviceFeature, { argsz: 8, feature, get, set, probe });
    expect(await op(6, true, true, true)).toBe(Errno.EINVAL);
    expect(await op(8, true, true, true)).toBe(Errno.EINVAL);
    expect(await op(6, true, false, false)).toBe(Errno.EINVAL);
    expect(await op(8, false, true, false)).toBe(Errno.EINVAL);
    expect(await op(0xffff, false, false, true)).toBe(Errno.EINVAL);
  });

  test('DMA_LOGGING_START whose argsz cannot hold the echoed reply is EINVAL, and logging does not start', async () => {
    const { client, server } = await withMemory();
    expect(await client.errno(Command.DeviceFeature, { ...control(6), argsz: 8 })).toBe(Errno.EINVAL);
    expect(await client.errno(Command.DeviceFeature, { ...control(6), argsz: 23 })).toBe(Errno.EINVAL);
    expect(server.dmaMappings).toHaveLength(1);
    expect(await client.errno(Command.DeviceFeature, report(0x100000n, 0x10000n))).toBe(Errno.EINVAL);
    expect(await client.errno(Command.DeviceFeature, control(6))).toBe(0);
  });

  test('device writes show up in the report, which clears as it is read and rescales page sizes', async () => {
    const { client, device } = await withMemory();
    await client.call(Command.DeviceFeature, control(6));
    expect(await device.dmaWrite(0x100000n + 0x3010n, Uint8Array.of(1))).toBe('ok');
    expect(await device.dmaWrite(0x100000n + 0x9ffen, Uint8Array.of(1, 2, 3, 4))).toBe('ok');
    const r = await client.call(Command.DeviceFeature, report(0x100000n, 0x10000n));
    const data = r.body.data;
    expect(data?.kind).toBe('dma-logging-report');
    // Pages 3, 9 and 10 of sixteen: bits 3, 9, 10 of one u64 word.
    expect(data?.kind === 'dma-logging-report' && [...(data.bitmap ?? [])]).toEqual([
      0x08, 0x06, 0, 0, 0, 0, 0, 0,
    ]);
    expect(r.body.argsz).toBe(8 + 24 + 8);
    const again = await client.call(Command.DeviceFeature, report(0x100000n, 0x10000n));
    expect(again.body.data?.kind === 'dma-logging-report' && [...(again.body.data.bitmap ?? [])]).toEqual(
      new Array(8).fill(0),
    );
    expect(await device.dmaWrite(0x100000n + 0x3010n, Uint8Array.of(1))).toBe('ok');
    const coarse = await client.call(Command.DeviceFeature, report(0x100000n, 0x10000n, 0x8000n));
    expect(coarse.body.data?.kind === 'dma-logging-report' && [...(coarse.body.data.bitmap ?? [])]).toEqual([
      1, 0, 0, 0, 0, 0, 0, 0,
    ]);
  });

  test('report rules: not started EINVAL, not one mapping ENOTSUP, message mapping EINVAL; STOP ends it', async () => {
    const { client } = await withMemory();
    expect(await client.errno(Command.DeviceFeature, report(0x100000n, 0x10000n))).toBe(Errno.EINVAL);
    await client.call(Command.DeviceFeature, control(6));
    expect(await client.errno(Command.DeviceFeature, control(6, 8192n))).toBe(Errno.EINVAL);
    expect(await client.errno(Command.DeviceFeature, report(0x100000n, 0x8000n))).toBe(Errno.ENOTSUP);
    await client.call(Command.DmaMap, { argsz: 32, flags: 3, offset: 0n, addr: 0x200000n, size: 0x1000n });
    expect(await client.errno(Command.DeviceFeature, report(0x200000n, 0x1000n))).toBe(Errno.EINVAL);
    expect(await client.errno(Command.DeviceFeature, report(0x100000n, 0x10000n, 4096n, 16))).toBe(
      Errno.EINVAL,
    );
    await client.call(Command.DeviceFeature, control(7));
    expect(await client.errno(Command.DeviceFeature, report(0x100000n, 0x10000n))).toBe(Errno.EINVAL);
  });
});
