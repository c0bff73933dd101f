/** DMA_MAP/DMA_UNMAP, DEVICE_SET_IRQS, DEVICE_RESET, DEVICE_FEATURE and migration data. */
import { expectThat, skip } from '../check';
import { le } from '../peer';
import { Cmd, E, expectError, expectOk, type ServerCheck, type ServerContext, u64 } from '../server-context';

const MAP = { section: 'VFIO_USER_DMA_MAP', practice: 'notes §5.1' };
const UNMAP = { section: 'VFIO_USER_DMA_UNMAP', practice: 'notes §5.2' };
const IRQS = { section: 'VFIO_USER_DEVICE_SET_IRQS', practice: 'notes §9.2' };
const RESET = { section: 'VFIO_USER_DEVICE_RESET', practice: 'notes §12' };
const FEATURE = { section: 'VFIO_USER_DEVICE_FEATURE', practice: 'notes §13' };
const MIG = { section: 'VFIO_USER_MIG_DATA_READ', practice: 'notes §14' };

const READ_WRITE = 3;
/** Each check maps at its own IOVA, far from anything a device might use. */
const iova = (n: number) => 0x4000_0000n + BigInt(n) * 0x10_0000n;
const map = (addr: bigint, size: bigint | number, flags = READ_WRITE, argsz = 32) =>
  le(['u32', argsz], ['u32', flags], ['u64', 0], ['u64', addr], ['u64', size]);
const unmap = (addr: bigint, size: bigint | number, flags = 0, argsz = 24) =>
  le(['u32', argsz], ['u32', flags], ['u64', addr], ['u64', size]);

/** A DMA_MAP on the shared session, with a memfd when running with fds. */
async function mapOk(ctx: ServerContext, addr: bigint, size = 0x1000) {
  return expectOk(
    await ctx.call(Cmd.DmaMap, map(addr, size), ctx.fds ? { fds: [ctx.memfd(size)] } : {}),
    `DMA_MAP 0x${addr.toString(16)}`,
  );
}

const setIrqs = (
  flags: number,
  index: number,
  start: number,
  count: number,
  data = new Uint8Array(0),
  argsz = 20 + data.byteLength,
) => le(['u32', argsz], ['u32', flags], ['u32', index], ['u32', start], ['u32', count], ['bytes', data]);
const DATA_NONE = 1;
const DATA_BOOL = 2;
const DATA_EVENTFD = 4;
const MASK = 8;
const UNMASK = 0x10;
const TRIGGER = 0x20;
const IRQ_NAMES = ['INTx', 'MSI', 'MSI-X', 'ERR', 'REQ'];

export function dmaChecks(): ServerCheck[] {
  return [
    {
      id: 'dma-map.map-unmap',
      title: 'DMA_MAP then DMA_UNMAP of the same range succeed; the unmap reply echoes the request',
      spec: UNMAP,
      async run(ctx) {
        await mapOk(ctx, iova(1));
        const r = expectOk(await ctx.call(Cmd.DmaUnmap, unmap(iova(1), 0x1000)), 'DMA_UNMAP');
        expectThat(
          r.payload.byteLength === 24 && u64(r.payload, 8) === iova(1) && u64(r.payload, 16) === 0x1000n,
          `reply of ${r.payload.byteLength} bytes`,
        );
      },
    },
    {
      id: 'dma-map.reply-header-only',
      title: 'the DMA_MAP reply has no payload',
      spec: MAP,
      async run(ctx) {
        const r = await mapOk(ctx, iova(2));
        await ctx.call(Cmd.DmaUnmap, unmap(iova(2), 0x1000));
        expectThat(r.payload.byteLength === 0, `${r.payload.byteLength} payload bytes`);
      },
    },
    {
      id: 'dma-map.without-fd',
      title: 'DMA_MAP without an fd is accepted (the server then uses DMA_READ/DMA_WRITE)',
      spec: MAP,
      async run(ctx) {
        expectOk(await ctx.call(Cmd.DmaMap, map(iova(3), 0x1000)), 'DMA_MAP without fd');
        expectOk(await ctx.call(Cmd.DmaUnmap, unmap(iova(3), 0x1000)), 'DMA_UNMAP');
      },
    },
    {
      id: 'dma-map.read-only',
      title: 'a read-only DMA_MAP is accepted',
      spec: MAP,
      async run(ctx) {
        expectOk(await ctx.call(Cmd.DmaMap, map(iova(4), 0x1000, 1)), 'DMA_MAP READ');
        expectOk(await ctx.call(Cmd.DmaUnmap, unmap(iova(4), 0x1000)), 'DMA_UNMAP');
      },
    },
    {
      id: 'dma-map.overlap-eexist',
      title: 'DMA_MAP overlapping an existing mapping fails with EEXIST',
      spec: MAP,
      async run(ctx) {
        await mapOk(ctx, iova(5), 0x2000);
        try {
          return expectError(
            await ctx.call(Cmd.DmaMap, map(iova(5) + 0x1000n, 0x2000)),
            [E.EEXIST],
            'overlapping DMA_MAP',
          );
        } finally {
          await ctx.call(Cmd.DmaUnmap, unmap(iova(5), 0x2000));
          await ctx.call(Cmd.DmaUnmap, unmap(iova(5) + 0x1000n, 0x2000));
        }
      },
    },
    {
      id: 'dma-map.size-zero',
      title: 'DMA_MAP of size 0 is refused',
      spec: MAP,
      async run(ctx) {
        return expectError(await ctx.call(Cmd.DmaMap, map(iova(6), 0)), [E.EINVAL], 'size 0');
      },
    },
    {
      id: 'dma-map.wraps',
      title: 'DMA_MAP whose range wraps past 2^64 is refused',
      spec: MAP,
      async run(ctx) {
        return expectError(
          await ctx.call(Cmd.DmaMap, map(0xffff_ffff_ffff_f000n, 0x2000)),
          [E.EINVAL, E.ENOSPC],
          'wrapping range',
        );
      },
    },
    {
      id: 'dma-map.argsz-small',
      title: 'DMA_MAP with argsz below 32 is refused',
      spec: MAP,
      async run(ctx) {
        return expectError(
          await ctx.call(Cmd.DmaMap, map(iova(7), 0x1000, READ_WRITE, 16)),
          [E.EINVAL],
          'argsz 16',
        );
      },
    },
    {
      id: 'dma-map.short-payload',
      title: 'DMA_MAP with a 16-byte payload is refused',
      spec: MAP,
      async run(ctx) {
        return expectError(
          await ctx.call(Cmd.DmaMap, le(['u32', 32], ['u32', 3], ['u64', 0])),
          [E.EINVAL],
          '16-byte request',
        );
      },
    },
    {
      id: 'dma-map.unknown-flags',
      title: 'DMA_MAP with unknown flag bits is refused',
      spec: MAP,
      async run(ctx) {
        return expectError(
          await ctx.call(Cmd.DmaMap, map(iova(8), 0x1000, 0x100)),
          [E.EINVAL],
          'flags 0x100',
        );
      },
    },
    {
      id: 'dma-map.two-fds',
      title: 'DMA_MAP with two fds is refused',
      spec: MAP,
      async run(ctx) {
        if (!ctx.fds) skip('run without fds');
        return expectError(
          await ctx.call(Cmd.DmaMap, map(iova(9), 0x1000), { fds: [ctx.memfd(0x1000), ctx.memfd(0x1000)] }),
          [E.EINVAL],
          'two fds',
        );
      },
    },
    {
      id: 'dma-map.fd-too-small',
      title: 'DMA_MAP of more than its fd holds is refused',
      spec: MAP,
      async run(ctx) {
        if (!ctx.fds) skip('run without fds');
        const r = await ctx.call(Cmd.DmaMap, map(iova(10), 0x10_0000), { fds: [ctx.memfd(0x1000)] });
        return expectError(r, [E.EINVAL, E.EFAULT], '1 MiB map of a 4 KiB memfd');
      },
    },
    {
      id: 'dma-unmap.unknown',
      title: 'DMA_UNMAP of a range never mapped fails (ENOENT)',
      spec: UNMAP,
      async run(ctx) {
        return expectError(
          await ctx.call(Cmd.DmaUnmap, unmap(iova(11), 0x1000)),
          [E.ENOENT, E.EINVAL],
          'unmapped range',
        );
      },
    },
    {
      id: 'dma-unmap.partial',
      title: 'DMA_UNMAP of part of a mapping fails and keeps the mapping',
      spec: UNMAP,
      async run(ctx) {
        await mapOk(ctx, iova(12), 0x2000);
        const r = await ctx.call(Cmd.DmaUnmap, unmap(iova(12), 0x1000));
        const whole = await ctx.call(Cmd.DmaUnmap, unmap(iova(12), 0x2000));
        const detail = expectError(r, [E.ENOENT, E.EINVAL], 'half of a mapping');
        expectOk(whole, 'the whole mapping afterwards');
        return detail;
      },
    },
    {
      id: 'dma-unmap.unknown-flags',
      title: 'DMA_UNMAP with unknown flag bits is refused',
      spec: UNMAP,
      async run(ctx) {
        return expectError(
          await ctx.call(Cmd.DmaUnmap, unmap(iova(13), 0x1000, 0x100)),
          [E.EINVAL],
          'flags 0x100',
        );
      },
    },
    {
      id: 'dma-unmap.all',
      title: 'DMA_UNMAP with the ALL flag removes every mapping',
      spec: {
        section: 'VFIO_USER_DMA_UNMAP',
        practice: 'notes §5.2 (QEMU and libvfio-user send and accept ALL)',
      },
      async run(ctx) {
        await mapOk(ctx, iova(14));
        await mapOk(ctx, iova(15));
        expectOk(await ctx.call(Cmd.DmaUnmap, unmap(0n, 0, 2)), 'DMA_UNMAP ALL');
        return expectError(
          await ctx.call(Cmd.DmaUnmap, unmap(iova(14), 0x1000)),
          [E.ENOENT, E.EINVAL],
          'a mapping after ALL',
        );
      },
    },
    {
      id: 'dma-unmap.all-with-range',
      title: 'DMA_UNMAP ALL with a non-zero address is refused',
      spec: { section: 'VFIO_USER_DMA_UNMAP', practice: 'notes §5.2' },
      async run(ctx) {
        return expectError(
          await ctx.call(Cmd.DmaUnmap, unmap(iova(16), 0x1000, 2)),
          [E.EINVAL],
          'ALL with addr',
        );
      },
    },
    {
      id: 'dma-unmap.argsz-small',
      title: 'DMA_UNMAP with argsz below 24 is refused',
      spec: UNMAP,
      async run(ctx) {
        return expectError(
          await ctx.call(Cmd.DmaUnmap, unmap(iova(17), 0x1000, 0, 8)),
          [E.EINVAL],
          'argsz 8',
        );
      },
    },
    {
      id: 'dma-unmap.with-fd',
      title: 'DMA_UNMAP carrying an fd is refused',
      spec: UNMAP,
      async run(ctx) {
        if (!ctx.fds) skip('run without fds');
        return expectError(
          await ctx.call(Cmd.DmaUnmap, unmap(iova(18), 0x1000), { fds: [ctx.memfd(4096)] }),
          [E.EINVAL],
          'with an fd',
        );
      },
    },
  ];
}

export function irqSetChecks(): ServerCheck[] {
  const checks: ServerCheck[] = [
    {
      id: 'set-irqs.index-past-end',
      title: 'SET_IRQS on index num_irqs is refused',
      spec: IRQS,
      async run(ctx) {
        return expectError(
          await ctx.call(Cmd.SetIrqs, setIrqs(DATA_NONE | TRIGGER, ctx.discovery.numIrqs, 0, 0)),
          [E.EINVAL],
          'index past end',
        );
      },
    },
    {
      id: 'set-irqs.no-data-type',
      title: 'SET_IRQS without a data type is refused',
      spec: IRQS,
      async run(ctx) {
        return expectError(await ctx.call(Cmd.SetIrqs, setIrqs(TRIGGER, 0, 0, 0)), [E.EINVAL], 'no data bit');
      },
    },
    {
      id: 'set-irqs.two-data-types',
      title: 'SET_IRQS with two data types is refused',
      spec: IRQS,
      async run(ctx) {
        return expectError(
          await ctx.call(Cmd.SetIrqs, setIrqs(DATA_NONE | DATA_BOOL | TRIGGER, 0, 0, 0)),
          [E.EINVAL],
          'NONE|BOOL',
        );
      },
    },
    {
      id: 'set-irqs.no-action',
      title: 'SET_IRQS without an action is refused',
      spec: IRQS,
      async run(ctx) {
        return expectError(
          await ctx.call(Cmd.SetIrqs, setIrqs(DATA_NONE, 0, 0, 0)),
          [E.EINVAL],
          'no action bit',
        );
      },
    },
    {
      id: 'set-irqs.two-actions',
      title: 'SET_IRQS with two actions is refused',
      spec: IRQS,
      async run(ctx) {
        return expectError(
          await ctx.call(Cmd.SetIrqs, setIrqs(DATA_NONE | MASK | UNMASK, 0, 0, 0)),
          [E.EINVAL],
          'MASK|UNMASK',
        );
      },
    },
    {
      id: 'set-irqs.argsz-small',
      title: 'SET_IRQS with argsz below 20 is refused',
      spec: IRQS,
      async run(ctx) {
        return expectError(
          await ctx.call(Cmd.SetIrqs, setIrqs(DATA_NONE | TRIGGER, 0, 0, 0, new Uint8Array(0), 12)),
          [E.EINVAL],
          'argsz 12',
        );
      },
    },
    {
      id: 'set-irqs.short-payload',
      title: 'SET_IRQS with a 12-byte payload is refused',
      spec: IRQS,
      async run(ctx) {
        return expectError(
          await ctx.call(Cmd.SetIrqs, le(['u32', 20], ['u32', DATA_NONE | TRIGGER], ['u32', 0])),
          [E.EINVAL],
          '12-byte request',
        );
      },
    },
    {
      id: 'set-irqs.count-zero-start-nonzero',
      title: 'SET_IRQS with count 0 and a non-zero start is refused',
      spec: IRQS,
      async run(ctx) {
        return expectError(
          await ctx.call(Cmd.SetIrqs, setIrqs(DATA_NONE | TRIGGER, 1, 1, 0)),
          [E.EINVAL],
          'start 1 count 0',
        );
      },
    },
    {
      id: 'set-irqs.fds-with-data-none',
      title: 'SET_IRQS DATA_NONE carrying fds is refused',
      spec: IRQS,
      async run(ctx) {
        if (!ctx.fds) skip('run without fds');
        const irq = ctx.discovery.irqs.find((q) => q.count > 0);
        if (irq === undefined) skip('no implemented IRQ index');
        return expectError(
          await ctx.call(Cmd.SetIrqs, setIrqs(DATA_NONE | TRIGGER, irq.index, 0, 1), {
            fds: [ctx.eventfd()],
          }),
          [E.EINVAL],
          'DATA_NONE with an fd',
        );
      },
    },
  ];
  for (let index = 0; index < 5; index++) checks.push(...perIrq(index));
  return checks;
}

function perIrq(index: number): ServerCheck[] {
  const name = IRQ_NAMES[index] as string;
  const id = `set-irqs.${name.toLowerCase()}`;
  const count = (ctx: ServerContext) => {
    const irq = ctx.discovery.irqs.find((q) => q.index === index);
    if (irq === undefined || irq.count === 0) skip(`${name} not implemented`);
    return irq.count;
  };
  return [
    {
      id: `${id}.eventfd-trigger`,
      title: `SET_IRQS ${name}: eventfds bound with DATA_EVENTFD|TRIGGER, then released by disabling the index`,
      spec: IRQS,
      async run(ctx) {
        const n = Math.min(count(ctx), ctx.discovery.maxMsgFds);
        if (!ctx.fds) skip('run without fds');
        if (n === 0) skip('the server accepts no fds');
        const fds = Array.from({ length: n }, () => ctx.eventfd());
        expectOk(await ctx.call(Cmd.SetIrqs, setIrqs(DATA_EVENTFD | TRIGGER, index, 0, n), { fds }), 'bind');
        expectOk(await ctx.call(Cmd.SetIrqs, setIrqs(DATA_NONE | TRIGGER, index, 0, 0)), 'disable');
      },
    },
    {
      id: `${id}.eventfd-count-mismatch`,
      title: `SET_IRQS ${name}: DATA_EVENTFD with fewer fds than count is refused`,
      spec: IRQS,
      async run(ctx) {
        const n = count(ctx);
        if (!ctx.fds) skip('run without fds');
        if (n < 2) skip(`${name} has a single vector`);
        return expectError(
          await ctx.call(Cmd.SetIrqs, setIrqs(DATA_EVENTFD | TRIGGER, index, 0, 2), { fds: [ctx.eventfd()] }),
          [E.EINVAL],
          'count 2 with one fd',
        );
      },
    },
    {
      id: `${id}.range-past-count`,
      title: `SET_IRQS ${name}: start + count beyond the index's count is refused`,
      spec: IRQS,
      async run(ctx) {
        const n = count(ctx);
        return expectError(
          await ctx.call(Cmd.SetIrqs, setIrqs(DATA_NONE | TRIGGER, index, n, 1)),
          [E.EINVAL],
          `start ${n} count 1`,
        );
      },
    },
    {
      id: `${id}.bool-length-mismatch`,
      title: `SET_IRQS ${name}: DATA_BOOL whose data is not count bytes is refused`,
      spec: IRQS,
      async run(ctx) {
        count(ctx);
        return expectError(
          await ctx.call(
            Cmd.SetIrqs,
            setIrqs(DATA_BOOL | (index >= 3 ? TRIGGER : MASK), index, 0, 1, new Uint8Array(3)),
          ),
          [E.EINVAL],
          'count 1 with 3 bytes',
        );
      },
    },
    {
      id: `${id}.disable`,
      title: `SET_IRQS ${name}: DATA_NONE|TRIGGER with count 0 disables the index`,
      spec: IRQS,
      async run(ctx) {
        count(ctx);
        expectOk(await ctx.call(Cmd.SetIrqs, setIrqs(DATA_NONE | TRIGGER, index, 0, 0)), 'disable');
      },
    },
  ];
}

export function resetFeatureChecks(): ServerCheck[] {
  return [
    {
      id: 'reset.succeeds',
      title: 'DEVICE_RESET succeeds with an empty reply',
      spec: RESET,
      async run(ctx) {
        if ((ctx.discovery.deviceFlags & 1) === 0) skip('the device does not report VFIO_DEVICE_FLAGS_RESET');
        const r = expectOk(await ctx.call(Cmd.Reset), 'DEVICE_RESET');
        expectThat(r.payload.byteLength === 0, `${r.payload.byteLength} payload bytes`);
      },
    },
    {
      id: 'reset.command-cleared',
      title: 'after DEVICE_RESET the PCI Command register has decoding and bus mastering off',
      spec: { section: 'VFIO_USER_DEVICE_RESET', practice: 'PCI Local Bus 3.0 §6.2.2' },
      async run(ctx) {
        if ((ctx.discovery.deviceFlags & 1) === 0) skip('the device does not report VFIO_DEVICE_FLAGS_RESET');
        expectOk(
          await ctx.call(Cmd.RegionWrite, le(['u64', 4], ['u32', 7], ['u32', 2], ['u16', 0x7])),
          'enable decoding',
        );
        expectOk(await ctx.call(Cmd.Reset), 'DEVICE_RESET');
        const r = expectOk(
          await ctx.call(Cmd.RegionRead, le(['u64', 4], ['u32', 7], ['u32', 2])),
          'read Command',
        );
        expectThat((r.payload[16]! & 0x7) === 0, `Command 0x${r.payload[16]?.toString(16)} after reset`);
      },
    },
    {
      id: 'reset.with-fd',
      title: 'DEVICE_RESET carrying an fd is refused',
      spec: RESET,
      async run(ctx) {
        if (!ctx.fds) skip('run without fds');
        return expectError(
          await ctx.call(Cmd.Reset, new Uint8Array(0), { fds: [ctx.eventfd()] }),
          [E.EINVAL],
          'with an fd',
        );
      },
    },
    {
      id: 'feature.unknown',
      title: 'DEVICE_FEATURE GET of an unknown feature is refused',
      spec: FEATURE,
      async run(ctx) {
        return expectError(
          await ctx.call(Cmd.Feature, le(['u32', 16], ['u32', 0x1_0000 | 0xffff], ['u64', 0])),
          [E.EINVAL, E.ENOTSUP],
          'feature 0xffff',
        );
      },
    },
    {
      id: 'feature.argsz-small',
      title: 'DEVICE_FEATURE with argsz below 8 is refused',
      spec: FEATURE,
      async run(ctx) {
        return expectError(
          await ctx.call(Cmd.Feature, le(['u32', 4], ['u32', 0x1_0000 | 1])),
          [E.EINVAL],
          'argsz 4',
        );
      },
    },
    {
      id: 'feature.get-and-set',
      title: 'DEVICE_FEATURE with both GET and SET is refused',
      spec: FEATURE,
      async run(ctx) {
        return expectError(
          await ctx.call(Cmd.Feature, le(['u32', 16], ['u32', 0x3_0000 | 2], ['u64', 0])),
          [E.EINVAL],
          'GET|SET',
        );
      },
    },
    {
      id: 'feature.migration-probe',
      title: 'DEVICE_FEATURE PROBE of MIGRATION answers (supported) or refuses (unsupported) cleanly',
      spec: FEATURE,
      async run(ctx) {
        const r = await ctx.call(Cmd.Feature, le(['u32', 16], ['u32', 0x5_0000 | 1]));
        if (typeof r === 'string') expectThat(false, `PROBE: ${r}`);
        return r.flags & 0x20 ? `not supported (errno ${r.errorNo})` : 'supported';
      },
    },
    {
      id: 'mig-data-read.not-migrating',
      title: 'MIG_DATA_READ outside PRE_COPY/STOP_COPY is refused',
      spec: MIG,
      async run(ctx) {
        return expectError(
          await ctx.call(Cmd.MigDataRead, le(['u32', 8 + 64], ['u32', 64])),
          [E.EINVAL],
          'while running',
        );
      },
    },
    {
      id: 'mig-data-write.not-resuming',
      title: 'MIG_DATA_WRITE outside RESUMING is refused',
      spec: { section: 'VFIO_USER_MIG_DATA_WRITE', practice: 'notes §14' },
      async run(ctx) {
        return expectError(
          await ctx.call(Cmd.MigDataWrite, le(['u32', 12], ['u32', 4], ['u32', 0])),
          [E.EINVAL],
          'while running',
        );
      },
    },
    {
      id: 'region-io-fds.bad-index',
      title: 'DEVICE_GET_REGION_IO_FDS for a region that does not exist is refused',
      spec: { section: 'VFIO_USER_DEVICE_GET_REGION_IO_FDS', practice: 'notes §8' },
      async run(ctx) {
        return expectError(
          await ctx.call(Cmd.RegionIoFds, le(['u32', 16], ['u32', 0], ['u32', 0xffff], ['u32', 0])),
          [E.EINVAL, E.ENOTSUP],
          'index 0xffff',
        );
      },
    },
  ];
}
