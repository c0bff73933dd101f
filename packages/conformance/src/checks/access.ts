/** REGION_READ, REGION_WRITE and REGION_WRITE_MULTI on every region the device has, and config space. */
import { expectThat, skip } from '../check';
import { le } from '../peer';
import {
  Cmd,
  E,
  expectError,
  expectOk,
  type RegionDesc,
  type ServerCheck,
  type ServerContext,
  u32,
} from '../server-context';

const READ = { section: 'VFIO_USER_REGION_READ', practice: 'notes §10' };
const WRITE = { section: 'VFIO_USER_REGION_WRITE', practice: 'notes §10' };
const MULTI = { section: 'VFIO_USER_REGION_WRITE_MULTI', practice: 'notes §10' };
const NAMES = ['BAR0', 'BAR1', 'BAR2', 'BAR3', 'BAR4', 'BAR5', 'ROM', 'CONFIG', 'VGA'];

const read = (index: number, offset: bigint | number, count: number) =>
  le(['u64', offset], ['u32', index], ['u32', count]);

function region(ctx: ServerContext, index: number): RegionDesc {
  const r = ctx.discovery.regions.find((x) => x.index === index);
  if (r === undefined || r.size === 0n) skip(`${NAMES[index]} not implemented`);
  return r;
}

/** The largest access size up to 4 the region takes at offset 0 (I/O BARs may be small). */
function width(r: RegionDesc): number {
  return r.size >= 4n ? 4 : Number(r.size);
}

export function accessChecks(): ServerCheck[] {
  const checks: ServerCheck[] = [];
  for (let index = 0; index < 9; index++) checks.push(...perRegion(index));
  checks.push(
    {
      id: 'region-read.index-past-end',
      title: 'REGION_READ of region num_regions is refused',
      spec: READ,
      async run(ctx) {
        return expectError(
          await ctx.call(Cmd.RegionRead, read(ctx.discovery.numRegions, 0, 4)),
          [E.EINVAL],
          `region ${ctx.discovery.numRegions}`,
        );
      },
    },
    {
      id: 'region-read.short-payload',
      title: 'REGION_READ with an 8-byte payload is refused',
      spec: READ,
      async run(ctx) {
        return expectError(await ctx.call(Cmd.RegionRead, le(['u64', 0])), [E.EINVAL], '8-byte request');
      },
    },
    {
      id: 'region-read.over-max-data-xfer',
      title: 'REGION_READ of more than max_data_xfer_size is refused',
      spec: READ,
      async run(ctx) {
        const n = ctx.discovery.maxDataXferSize + 1;
        return expectError(await ctx.call(Cmd.RegionRead, read(7, 0, n)), [E.EINVAL, E.E2BIG], `count ${n}`);
      },
    },
    {
      id: 'region-write.count-mismatch',
      title: 'REGION_WRITE whose count differs from its data is refused',
      spec: WRITE,
      async run(ctx) {
        return expectError(
          await ctx.call(Cmd.RegionWrite, le(['u64', 0x3c], ['u32', 7], ['u32', 4], ['u8', 1])),
          [E.EINVAL],
          'count 4 with 1 byte',
        );
      },
    },
    {
      id: 'region-write.index-past-end',
      title: 'REGION_WRITE to region num_regions is refused',
      spec: WRITE,
      async run(ctx) {
        return expectError(
          await ctx.call(
            Cmd.RegionWrite,
            le(['u64', 0], ['u32', ctx.discovery.numRegions], ['u32', 1], ['u8', 1]),
          ),
          [E.EINVAL],
          'past the last region',
        );
      },
    },
    {
      id: 'config.vendor-id',
      title: 'config space Vendor ID is a real vendor (not 0xffff or 0)',
      spec: { section: 'VFIO_USER_REGION_READ', practice: 'PCI Local Bus 3.0 §6.2.1' },
      async run(ctx) {
        const r = expectOk(await ctx.call(Cmd.RegionRead, read(7, 0, 2)), 'read 0x00');
        const v = r.payload[16]! | (r.payload[17]! << 8);
        expectThat(v !== 0xffff && v !== 0, `Vendor ID 0x${v.toString(16)}`);
      },
    },
    {
      id: 'config.vendor-id-read-only',
      title: 'a write to Vendor ID is ignored',
      spec: { section: 'VFIO_USER_REGION_WRITE', practice: 'PCI Local Bus 3.0 §6.2.1' },
      async run(ctx) {
        const before = expectOk(await ctx.call(Cmd.RegionRead, read(7, 0, 2)), 'read');
        expectOk(
          await ctx.call(Cmd.RegionWrite, le(['u64', 0], ['u32', 7], ['u32', 2], ['u16', 0x1111])),
          'write',
        );
        const after = expectOk(await ctx.call(Cmd.RegionRead, read(7, 0, 2)), 'read again');
        expectThat(
          Buffer.compare(before.payload.subarray(16), after.payload.subarray(16)) === 0,
          'Vendor ID changed',
        );
      },
    },
    {
      id: 'config.capability-list',
      title: 'the config capability list is well formed (in 0x40..0xff, dword aligned, ends)',
      spec: { section: 'VFIO_USER_REGION_READ', practice: 'PCI Local Bus 3.0 §6.7' },
      async run(ctx) {
        const r = expectOk(await ctx.call(Cmd.RegionRead, read(7, 0, 256)), 'read 256 bytes');
        const cfg = r.payload.subarray(16);
        if ((cfg[6]! & 0x10) === 0) return 'no capability list';
        let at = cfg[0x34]! & 0xfc;
        const seen = new Set<number>();
        while (at !== 0) {
          expectThat(at >= 0x40 && at <= 0xfc, `capability at 0x${at.toString(16)}`);
          expectThat(!seen.has(at), `capability list loops at 0x${at.toString(16)}`);
          seen.add(at);
          at = cfg[at + 1]! & 0xfc;
        }
        return `${seen.size} capabilities`;
      },
    },
    {
      id: 'config.interrupt-line-scratch',
      title: 'Interrupt Line (0x3c) reads back what was written',
      spec: { section: 'VFIO_USER_REGION_WRITE', practice: 'PCI Local Bus 3.0 §6.2.4' },
      async run(ctx) {
        expectOk(
          await ctx.call(Cmd.RegionWrite, le(['u64', 0x3c], ['u32', 7], ['u32', 1], ['u8', 0x0b])),
          'write',
        );
        const r = expectOk(await ctx.call(Cmd.RegionRead, read(7, 0x3c, 1)), 'read');
        expectThat(r.payload[16] === 0x0b, `read 0x${r.payload[16]?.toString(16)}`);
      },
    },
    {
      id: 'region-write.reply-count',
      title: 'REGION_WRITE replies with the access header echoed (count = bytes written) and no data',
      spec: WRITE,
      async run(ctx) {
        const r = expectOk(
          await ctx.call(Cmd.RegionWrite, le(['u64', 0x3c], ['u32', 7], ['u32', 1], ['u8', 0x0a])),
          'write',
        );
        expectThat(r.payload.byteLength === 16, `reply payload ${r.payload.byteLength} bytes`);
        expectThat(
          u32(r.payload, 8) === 7 && u32(r.payload, 12) === 1,
          `region ${u32(r.payload, 8)} count ${u32(r.payload, 12)}`,
        );
      },
    },
    {
      id: 'write-multi.applies-in-order',
      title: 'REGION_WRITE_MULTI applies its writes in order and replies wr_cnt',
      spec: MULTI,
      async run(ctx) {
        if (!ctx.discovery.writeMultiple) skip('the server does not offer write_multiple');
        const entry = (v: number) => le(['u64', 0x3c], ['u32', 7], ['u32', 1], ['u64', v]);
        const r = expectOk(
          await ctx.call(Cmd.WriteMulti, le(['u64', 2], ['bytes', entry(0x21)], ['bytes', entry(0x22)])),
          'WRITE_MULTI',
        );
        expectThat(r.payload.byteLength >= 8 && r.payload[0] === 2, `wr_cnt ${r.payload[0]}`);
        const back = expectOk(await ctx.call(Cmd.RegionRead, read(7, 0x3c, 1)), 'read');
        expectThat(
          back.payload[16] === 0x22,
          `read 0x${back.payload[16]?.toString(16)} after writing 0x21 then 0x22`,
        );
      },
    },
    {
      id: 'write-multi.count-over-8',
      title: 'REGION_WRITE_MULTI with an entry count above 8 is refused',
      spec: MULTI,
      async run(ctx) {
        if (!ctx.discovery.writeMultiple) skip('the server does not offer write_multiple');
        const r = await ctx.call(
          Cmd.WriteMulti,
          le(['u64', 1], ['u64', 0x3c], ['u32', 7], ['u32', 9], ['u64', 0]),
        );
        return expectError(r, [E.EINVAL], 'count 9');
      },
    },
    {
      id: 'write-multi.length-mismatch',
      title: 'REGION_WRITE_MULTI whose wr_cnt does not match its entries is refused',
      spec: MULTI,
      async run(ctx) {
        if (!ctx.discovery.writeMultiple) skip('the server does not offer write_multiple');
        const r = await ctx.call(
          Cmd.WriteMulti,
          le(['u64', 3], ['u64', 0x3c], ['u32', 7], ['u32', 1], ['u64', 0]),
        );
        return expectError(r, [E.EINVAL], 'wr_cnt 3 with one entry');
      },
    },
  );
  return checks;
}

function perRegion(index: number): ServerCheck[] {
  const name = NAMES[index] as string;
  const id = `region-access.${name.toLowerCase()}`;
  return [
    {
      id: `${id}.read-start`,
      title: `REGION_READ ${name} at offset 0 echoes the access header and returns count bytes`,
      spec: READ,
      async run(ctx) {
        const r = region(ctx, index);
        const n = width(r);
        const reply = expectOk(await ctx.call(Cmd.RegionRead, read(index, 0, n)), 'read');
        expectThat(
          reply.payload.byteLength === 16 + n,
          `payload ${reply.payload.byteLength}, expected ${16 + n}`,
        );
        expectThat(
          u32(reply.payload, 8) === index && u32(reply.payload, 12) === n,
          `echo region ${u32(reply.payload, 8)} count ${u32(reply.payload, 12)}`,
        );
      },
    },
    {
      id: `${id}.read-last`,
      title: `REGION_READ ${name} of its last bytes succeeds`,
      spec: READ,
      async run(ctx) {
        const r = region(ctx, index);
        const n = width(r);
        expectOk(
          await ctx.call(Cmd.RegionRead, read(index, r.size - BigInt(n), n)),
          `read at 0x${(r.size - BigInt(n)).toString(16)}`,
        );
      },
    },
    {
      id: `${id}.read-past-end`,
      title: `REGION_READ ${name} at its size is refused`,
      spec: READ,
      async run(ctx) {
        const r = region(ctx, index);
        return expectError(
          await ctx.call(Cmd.RegionRead, read(index, r.size, 1)),
          [E.EINVAL],
          `read at 0x${r.size.toString(16)}`,
        );
      },
    },
    {
      id: `${id}.read-crossing-end`,
      title: `REGION_READ ${name} crossing its end is refused`,
      spec: READ,
      async run(ctx) {
        const r = region(ctx, index);
        if (r.size < 2n) skip('region too small to cross');
        return expectError(
          await ctx.call(Cmd.RegionRead, read(index, r.size - 1n, 2)),
          [E.EINVAL],
          'read of 2 at size-1',
        );
      },
    },
    {
      id: `${id}.offset-overflow`,
      title: `REGION_READ ${name} whose offset + count wraps around 2^64 is refused`,
      spec: READ,
      async run(ctx) {
        region(ctx, index);
        return expectError(
          await ctx.call(Cmd.RegionRead, read(index, 0xffff_ffff_ffff_fffen, 4)),
          [E.EINVAL],
          'offset 2^64-2',
        );
      },
    },
    {
      id: `${id}.write-past-end`,
      title: `REGION_WRITE ${name} at its size is refused`,
      spec: WRITE,
      async run(ctx) {
        const r = region(ctx, index);
        return expectError(
          await ctx.call(Cmd.RegionWrite, le(['u64', r.size], ['u32', index], ['u32', 1], ['u8', 0])),
          [E.EINVAL],
          'write at size',
        );
      },
    },
    {
      id: `${id}.absent-refused`,
      title: `REGION_READ ${name}, when the region has size 0, is refused`,
      spec: READ,
      async run(ctx) {
        const r = ctx.discovery.regions.find((x) => x.index === index);
        if (r !== undefined && r.size !== 0n) skip(`${name} is implemented`);
        return expectError(
          await ctx.call(Cmd.RegionRead, read(index, 0, 1)),
          [E.EINVAL],
          `read of absent ${name}`,
        );
      },
    },
  ];
}
