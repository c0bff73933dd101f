/** DEVICE_GET_INFO, DEVICE_GET_REGION_INFO and DEVICE_GET_IRQ_INFO: each index the device has. */
import { expectThat, skip } from '../check';
import { le } from '../peer';
import { Cmd, E, expectError, expectOk, type ServerCheck, u32, u64 } from '../server-context';

const INFO = { section: 'VFIO_USER_DEVICE_GET_INFO', practice: 'notes §6' };
const REGION = { section: 'VFIO_USER_DEVICE_GET_REGION_INFO', practice: 'notes §7' };
const IRQ = { section: 'VFIO_USER_DEVICE_GET_IRQ_INFO', practice: 'notes §9.1' };
const NAMES = ['BAR0', 'BAR1', 'BAR2', 'BAR3', 'BAR4', 'BAR5', 'ROM', 'CONFIG', 'VGA'];
const IRQ_NAMES = ['INTx', 'MSI', 'MSI-X', 'ERR', 'REQ'];
/** Largest count each PCI IRQ index may have (VFIO-PCI). */
const IRQ_MAX = [1, 32, 2048, 1, 1];

const regionInfo = (index: number, argsz = 32) =>
  le(['u32', argsz], ['u32', 0], ['u32', index], ['u32', 0], ['u64', 0], ['u64', 0]);
const irqInfo = (index: number, argsz = 16) => le(['u32', argsz], ['u32', 0], ['u32', index], ['u32', 0]);

export function infoChecks(): ServerCheck[] {
  const checks: ServerCheck[] = [
    {
      id: 'get-info.reply',
      title: 'DEVICE_GET_INFO answers argsz 16 and a 16-byte payload',
      spec: INFO,
      async run(ctx) {
        const r = expectOk(
          await ctx.call(Cmd.GetInfo, le(['u32', 16], ['u32', 0], ['u32', 0], ['u32', 0])),
          'DEVICE_GET_INFO',
        );
        expectThat(
          r.payload.byteLength === 16 && u32(r.payload, 0) === 16,
          `argsz ${u32(r.payload, 0)}, payload ${r.payload.byteLength}`,
        );
      },
    },
    {
      id: 'get-info.pci',
      title: 'the device says it is PCI (VFIO_DEVICE_FLAGS_PCI)',
      spec: INFO,
      async run(ctx) {
        expectThat(
          (ctx.discovery.deviceFlags & 2) !== 0,
          `flags 0x${ctx.discovery.deviceFlags.toString(16)}`,
        );
      },
    },
    {
      id: 'get-info.num-regions',
      title: 'a PCI device has at least VFIO_PCI_NUM_REGIONS (9) regions',
      spec: INFO,
      async run(ctx) {
        expectThat(ctx.discovery.numRegions >= 9, `num_regions ${ctx.discovery.numRegions}`);
      },
    },
    {
      id: 'get-info.num-irqs',
      title: 'a PCI device has VFIO_PCI_NUM_IRQS (5) IRQ indices',
      spec: INFO,
      async run(ctx) {
        expectThat(ctx.discovery.numIrqs === 5, `num_irqs ${ctx.discovery.numIrqs}`);
      },
    },
    {
      id: 'get-info.argsz-small',
      title: 'DEVICE_GET_INFO with argsz below 16 is refused',
      spec: { ...INFO, section: 'VFIO_USER_DEVICE_GET_INFO' },
      async run(ctx) {
        return expectError(
          await ctx.call(Cmd.GetInfo, le(['u32', 8], ['u32', 0], ['u32', 0], ['u32', 0])),
          [E.EINVAL],
          'argsz 8',
        );
      },
    },
    {
      id: 'get-info.short-payload',
      title: 'DEVICE_GET_INFO with an 8-byte payload is refused',
      spec: INFO,
      async run(ctx) {
        return expectError(
          await ctx.call(Cmd.GetInfo, le(['u32', 16], ['u32', 0])),
          [E.EINVAL],
          '8-byte request',
        );
      },
    },
    {
      id: 'get-info.argsz-large',
      title: 'DEVICE_GET_INFO with a larger argsz still answers 16 bytes',
      spec: INFO,
      async run(ctx) {
        const r = expectOk(
          await ctx.call(Cmd.GetInfo, le(['u32', 4096], ['u32', 0], ['u32', 0], ['u32', 0])),
          'argsz 4096',
        );
        expectThat(
          r.payload.byteLength === 16 && u32(r.payload, 0) === 16,
          `argsz ${u32(r.payload, 0)} payload ${r.payload.byteLength}`,
        );
      },
    },
    {
      id: 'region-info.index-past-end',
      title: 'DEVICE_GET_REGION_INFO for index num_regions is refused',
      spec: REGION,
      async run(ctx) {
        return expectError(
          await ctx.call(Cmd.RegionInfo, regionInfo(ctx.discovery.numRegions)),
          [E.EINVAL],
          `index ${ctx.discovery.numRegions}`,
        );
      },
    },
    {
      id: 'region-info.index-huge',
      title: 'DEVICE_GET_REGION_INFO for index 0xffffffff is refused',
      spec: REGION,
      async run(ctx) {
        return expectError(
          await ctx.call(Cmd.RegionInfo, regionInfo(0xffffffff)),
          [E.EINVAL],
          'index 0xffffffff',
        );
      },
    },
    {
      id: 'region-info.argsz-small',
      title: 'DEVICE_GET_REGION_INFO with argsz below 32 is refused',
      spec: REGION,
      async run(ctx) {
        return expectError(await ctx.call(Cmd.RegionInfo, regionInfo(7, 16)), [E.EINVAL], 'argsz 16');
      },
    },
    {
      id: 'region-info.short-payload',
      title: 'DEVICE_GET_REGION_INFO with a 16-byte payload is refused',
      spec: REGION,
      async run(ctx) {
        return expectError(
          await ctx.call(Cmd.RegionInfo, le(['u32', 32], ['u32', 0], ['u32', 7], ['u32', 0])),
          [E.EINVAL],
          '16-byte request',
        );
      },
    },
    {
      id: 'irq-info.index-past-end',
      title: 'DEVICE_GET_IRQ_INFO for index num_irqs is refused',
      spec: IRQ,
      async run(ctx) {
        return expectError(
          await ctx.call(Cmd.IrqInfo, irqInfo(ctx.discovery.numIrqs)),
          [E.EINVAL],
          `index ${ctx.discovery.numIrqs}`,
        );
      },
    },
    {
      id: 'irq-info.argsz-small',
      title: 'DEVICE_GET_IRQ_INFO with argsz below 16 is refused',
      spec: IRQ,
      async run(ctx) {
        return expectError(await ctx.call(Cmd.IrqInfo, irqInfo(0, 8)), [E.EINVAL], 'argsz 8');
      },
    },
    {
      id: 'irq-info.short-payload',
      title: 'DEVICE_GET_IRQ_INFO with an 8-byte payload is refused',
      spec: IRQ,
      async run(ctx) {
        return expectError(
          await ctx.call(Cmd.IrqInfo, le(['u32', 16], ['u32', 0])),
          [E.EINVAL],
          '8-byte request',
        );
      },
    },
  ];
  for (let i = 0; i < 9; i++) checks.push(...regionChecks(i));
  for (let i = 0; i < 5; i++) checks.push(...irqChecks(i));
  return checks;
}

function regionChecks(index: number): ServerCheck[] {
  const name = NAMES[index] as string;
  const id = `region-info.${name.toLowerCase()}`;
  const get = async (ctx: Parameters<ServerCheck['run']>[0], argsz = 512) => {
    const r = expectOk(await ctx.call(Cmd.RegionInfo, regionInfo(index, argsz)), `REGION_INFO ${name}`);
    const fds = r.fds.length;
    for (const fd of r.fds) fd.close();
    return { p: r.payload, fds };
  };
  const checks: ServerCheck[] = [
    {
      id: `${id}.index-echoed`,
      title: `REGION_INFO ${name}: index echoed, argsz at least 32, payload at most argsz`,
      spec: REGION,
      async run(ctx) {
        const { p } = await get(ctx);
        expectThat(u32(p, 8) === index, `index ${u32(p, 8)}`);
        expectThat(u32(p, 0) >= 32, `argsz ${u32(p, 0)}`);
        expectThat(p.byteLength >= 32 && p.byteLength <= 512, `payload ${p.byteLength} bytes`);
      },
    },
    {
      id: `${id}.flags-consistent`,
      title: `REGION_INFO ${name}: an implemented region is readable, an absent one (size 0) has no access flags`,
      spec: REGION,
      async run(ctx) {
        const { p } = await get(ctx);
        const flags = u32(p, 4);
        const size = u64(p, 16);
        if (size === 0n) expectThat((flags & 0x7) === 0, `size 0 with flags 0x${flags.toString(16)}`);
        else
          expectThat(
            (flags & 1) !== 0,
            `size 0x${size.toString(16)} without READ (flags 0x${flags.toString(16)})`,
          );
      },
    },
    {
      id: `${id}.caps-in-range`,
      title: `REGION_INFO ${name}: a capability chain lies within the reply`,
      spec: REGION,
      async run(ctx) {
        const { p } = await get(ctx);
        const flags = u32(p, 4);
        if ((flags & 8) === 0) return 'no capabilities';
        let at = u32(p, 12);
        for (let n = 0; n < 16 && at !== 0; n++) {
          expectThat(
            at >= 32 && at + 8 <= p.byteLength,
            `capability at ${at} outside the ${p.byteLength}-byte reply`,
          );
          at = u32(p, at + 4);
        }
        expectThat(at === 0, 'capability chain does not end');
        return undefined;
      },
    },
    {
      id: `${id}.fd-only-with-mmap`,
      title: `REGION_INFO ${name}: an fd comes only with MMAP, and never to a client that accepts none`,
      spec: REGION,
      async run(ctx) {
        const { p, fds } = await get(ctx);
        const mmap = (u32(p, 4) & 4) !== 0;
        expectThat(fds <= 1, `${fds} fds`);
        if (fds > 0) expectThat(mmap, 'an fd without MMAP');
        if (!ctx.fds) expectThat(fds === 0, 'an fd sent to a client that negotiated max_msg_fds 0');
      },
    },
  ];
  if (index === 7) {
    checks.push({
      id: `${id}.config-size`,
      title: 'the config region is 256 (PCI) or 4096 (PCIe) bytes, readable and writable, never mmappable',
      spec: { section: 'VFIO_USER_DEVICE_GET_REGION_INFO', practice: 'notes §16' },
      async run(ctx) {
        const { p } = await get(ctx);
        const size = u64(p, 16);
        const flags = u32(p, 4);
        expectThat(size === 256n || size === 4096n, `size ${size}`);
        expectThat((flags & 3) === 3 && (flags & 4) === 0, `flags 0x${flags.toString(16)}`);
      },
    });
  }
  if (index < 6) {
    checks.push({
      id: `${id}.bar-size-power-of-two`,
      title: `REGION_INFO ${name}: an implemented BAR's size is a power of two`,
      spec: { section: 'VFIO_USER_DEVICE_GET_REGION_INFO', practice: 'PCI Local Bus 3.0 §6.2.5.1' },
      async run(ctx) {
        const { p } = await get(ctx);
        const size = u64(p, 16);
        if (size === 0n) skip(`${name} not implemented`);
        expectThat((size & (size - 1n)) === 0n, `size 0x${size.toString(16)}`);
      },
    });
  }
  return checks;
}

function irqChecks(index: number): ServerCheck[] {
  const name = IRQ_NAMES[index] as string;
  const id = `irq-info.${name.toLowerCase()}`;
  return [
    {
      id: `${id}.reply`,
      title: `IRQ_INFO ${name}: argsz 16, index echoed`,
      spec: IRQ,
      async run(ctx) {
        const r = expectOk(await ctx.call(Cmd.IrqInfo, irqInfo(index)), `IRQ_INFO ${name}`);
        expectThat(
          u32(r.payload, 0) === 16 && r.payload.byteLength === 16,
          `argsz ${u32(r.payload, 0)} payload ${r.payload.byteLength}`,
        );
        expectThat(u32(r.payload, 8) === index, `index ${u32(r.payload, 8)}`);
      },
    },
    {
      id: `${id}.count-in-range`,
      title: `IRQ_INFO ${name}: count at most ${IRQ_MAX[index]}`,
      spec: { section: 'VFIO_USER_DEVICE_GET_IRQ_INFO', practice: 'notes §16' },
      async run(ctx) {
        const irq = ctx.discovery.irqs.find((q) => q.index === index);
        expectThat(irq !== undefined, 'no IRQ_INFO reply');
        expectThat(irq.count <= (IRQ_MAX[index] as number), `count ${irq.count}`);
      },
    },
    {
      id: `${id}.eventfd-flag`,
      title: `IRQ_INFO ${name}: an implemented index can signal through an eventfd`,
      spec: IRQ,
      async run(ctx) {
        const irq = ctx.discovery.irqs.find((q) => q.index === index);
        if (irq === undefined || irq.count === 0) skip(`${name} not implemented`);
        expectThat((irq.flags & 1) !== 0, `flags 0x${irq.flags.toString(16)}`);
      },
    },
  ];
}
