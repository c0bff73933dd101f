import {
  Command,
  decodeMessage,
  Errno,
  encodeMessage,
  HEADER_SIZE,
  ProtocolError,
  type RequestMessage,
} from '@vfu/protocol';
import { createMemfd, MappedRegion } from '@vfu/sys';
import { type Channel, channelPair } from '@vfu/transport';
import { afterEach, describe, expect, it } from 'vitest';
import { VfioPciIrq, VfioUserClient } from '../src/index';

/**
 * Servers that follow the spec but not our server's habits: no VERSION JSON at all (spec
 * defaults), no RESET flag, a BAR whose capabilities need more than our first argsz, no mmap,
 * write_multiple offered. Requests are decoded and kept for inspection.
 */
function variantServer(options: { sparseAreas: number; writeMultiple: boolean; versionJson: boolean }) {
  const [clientChannel, server] = channelPair(
    {},
    {
      receiveLimits: { maxMessageSize: 1 << 21, maxFdsPerMessage: 8 },
      sendLimits: { maxMessageSize: 1 << 21, maxFdsPerMessage: 8 },
    },
  );
  const bar = createMemfd('variant-bar0', { size: 0x10000 });
  const memory = MappedRegion.map(bar).bytes();
  const requests: RequestMessage[] = [];
  const reply = (m: RequestMessage, body: unknown) =>
    encodeMessage({ kind: 'reply', command: m.command, msgId: m.msgId, body } as Parameters<
      typeof encodeMessage
    >[0]).subarray(HEADER_SIZE);
  server.onRequest((request) => {
    const m = decodeMessage(request, { role: 'server' });
    if (m.kind !== 'request') return undefined;
    requests.push(m);
    switch (m.command) {
      case Command.Version:
        return {
          payload: options.versionJson
            ? reply(m, { major: 0, minor: 1, capabilities: { writeMultiple: options.writeMultiple } })
            : Uint8Array.of(0, 0, 1, 0), // 0.1, no JSON: every capability at its default
        };
      case Command.DeviceGetInfo:
        return { payload: reply(m, { argsz: 16, flags: 2, numRegions: 9, numIrqs: 3 }) };
      case Command.DeviceGetRegionInfo: {
        const index = m.body.index;
        if (index === 8) throw new ProtocolError('bad-field', 'no VGA', { errno: Errno.EINVAL });
        if (index !== 0 && index !== 7)
          return {
            payload: reply(m, { argsz: 32, flags: 0, index, size: 0n, offset: 0n, capabilities: [] }),
          };
        if (index === 7)
          return {
            payload: reply(m, { argsz: 32, flags: 3, index, size: 256n, offset: 0n, capabilities: [] }),
          };
        const areas = Array.from({ length: options.sparseAreas }, (_, i) => ({
          offset: BigInt(i) * 0x1000n,
          size: 0x1000n,
        }));
        const full = 32 + 16 + 16 * areas.length;
        if (options.sparseAreas > 0 && m.body.argsz < full) {
          return {
            payload: reply(m, {
              argsz: full,
              flags: 7,
              index,
              size: 0x10000n,
              offset: 0n,
              capabilities: [],
            }).subarray(0, 32),
          };
        }
        const caps = options.sparseAreas > 0 ? [{ id: 1, version: 1, areas }] : [];
        return {
          payload: reply(m, {
            argsz: full,
            flags: options.sparseAreas > 0 ? 7 : 3,
            index,
            size: 0x10000n,
            offset: 0n,
            capabilities: caps,
          }),
          ...(options.sparseAreas > 0 ? { fds: [bar] } : {}),
        };
      }
      case Command.DeviceGetIrqInfo:
        return {
          payload: reply(m, { argsz: 16, flags: 3, index: m.body.index, count: m.body.index === 1 ? 8 : 1 }),
        };
      case Command.DeviceSetIrqs:
        return {};
      case Command.RegionRead: {
        const { offset, region, count } = m.body;
        return {
          payload: reply(m, {
            offset,
            region,
            count,
            data: memory.slice(Number(offset), Number(offset) + count),
          }),
        };
      }
      case Command.RegionWrite:
        memory.set(m.body.data, Number(m.body.offset));
        return { payload: reply(m, { offset: m.body.offset, region: m.body.region, count: m.body.count }) };
      case Command.RegionWriteMulti:
        for (const w of m.body.writes) memory.set(w.data, Number(w.offset));
        return { payload: reply(m, { wrCnt: BigInt(m.body.writes.length) }) };
      default:
        throw new ProtocolError('unknown-command', 'not here', { errno: Errno.EINVAL });
    }
  });
  return {
    clientChannel,
    server,
    requests,
    memory,
    close: () => {
      server.destroy();
      bar.close();
    },
  };
}

let cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

async function start(options: Parameters<typeof variantServer>[0]) {
  const v = variantServer(options);
  cleanup.push(v.close);
  const client = await VfioUserClient.fromChannel(v.clientChannel as Channel);
  cleanup.push(() => client.close());
  return { ...v, client };
}

describe('spec-following servers that differ from ours', () => {
  it('accepts a VERSION reply without JSON and applies the spec defaults', async () => {
    const { client } = await start({ sparseAreas: 0, writeMultiple: false, versionJson: false });
    expect(client.version).toEqual({ major: 0, minor: 1 });
    expect(client.negotiated).toMatchObject({
      maxSendFds: 1,
      maxSendDataXferSize: 1 << 20,
      writeMultiple: false,
      twinSocket: false,
    });
    // A refused REGION_INFO (VGA here) makes the region absent, not the connection fail.
    expect(client.region(8).size).toBe(0n);
  });

  it('asks REGION_INFO again with the argsz the server needs, then mmaps every sparse area', async () => {
    const { client, requests, memory } = await start({
      sparseAreas: 16,
      writeMultiple: false,
      versionJson: true,
    });
    const bar0 = requests.filter((r) => r.command === Command.DeviceGetRegionInfo && r.body.index === 0);
    expect(bar0.map((r) => (r.command === Command.DeviceGetRegionInfo ? r.body.argsz : 0))).toEqual([
      192,
      32 + 16 + 256,
    ]);
    expect(client.region(0).mmapAreas.length).toBe(16);
    memory[0xf004] = 0x77;
    expect(await client.read8(0, 0xf004)).toBe(0x77);
    expect(client.isMmapped(0, 0xf004, 1)).toBe(true);
  });

  it('reads and writes through messages when the server offers no mmap; splits at max_data_xfer_size', async () => {
    const { client, requests, memory } = await start({
      sparseAreas: 0,
      writeMultiple: false,
      versionJson: false,
    });
    expect(client.isMmapped(0, 0, 4)).toBe(false);
    const data = Uint8Array.from({ length: 0x10000 }, (_, i) => i & 0xff);
    await client.regionWrite(0, 0, data);
    expect(memory).toEqual(data);
    expect(await client.regionRead(0, 0, 0x10000)).toEqual(data);
    await client.regionWrite(0, 8, Uint8Array.of(1, 2), { posted: true });
    expect(await client.read16(0, 8)).toBe(0x0201);
    expect(requests.filter((r) => r.command === Command.RegionWrite).length).toBe(2);
  });

  it('refuses DEVICE_RESET locally when the device lacks the RESET flag', async () => {
    const { client, requests } = await start({ sparseAreas: 0, writeMultiple: false, versionJson: false });
    await expect(client.reset()).rejects.toMatchObject({
      code: 'not-supported',
      command: Command.DeviceReset,
    });
    expect(requests.some((r) => r.command === Command.DeviceReset)).toBe(false);
  });

  it('batches small writes in REGION_WRITE_MULTI when offered, one REGION_WRITE each otherwise', async () => {
    for (const writeMultiple of [true, false]) {
      const { client, requests, memory } = await start({ sparseAreas: 0, writeMultiple, versionJson: true });
      const writes = Array.from({ length: 250 }, (_, i) => ({
        region: 0,
        offset: i * 8,
        data: Uint8Array.of(i & 0xff, 0xee),
      }));
      await client.regionWriteMulti(writes);
      expect(memory[8 * 249]).toBe(249);
      expect(memory[8 * 249 + 1]).toBe(0xee);
      const multi = requests.filter((r) => r.command === Command.RegionWriteMulti).length;
      const single = requests.filter((r) => r.command === Command.RegionWrite).length;
      expect([multi, single]).toEqual(writeMultiple ? [2, 0] : [0, 250]);
      await expect(
        client.regionWriteMulti([{ region: 0, offset: 0, data: new Uint8Array(9) }]),
      ).rejects.toMatchObject({
        code: 'invalid-argument',
      });
    }
  });

  it('encodes every SET_IRQS form: eventfds in runs of max_msg_fds, DATA_NONE, DATA_BOOL, disable', async () => {
    const { client, requests } = await start({ sparseAreas: 0, writeMultiple: false, versionJson: false });
    await client.enableIrq(VfioPciIrq.Msi, { start: 0, count: 3 }); // server takes 1 fd per message
    await client.maskIrq(VfioPciIrq.Msi, 1, 2);
    await client.unmaskIrq(VfioPciIrq.Msi, 0, 3, [true, false, true]);
    await client.triggerIrq(VfioPciIrq.Msi, 2, 1);
    await client.disableIrq(VfioPciIrq.Msi);
    const sets = requests.flatMap((r) =>
      r.command === Command.DeviceSetIrqs ? [{ ...r.body, fds: r.fds?.length ?? 0 }] : [],
    );
    expect(sets.map((s) => [s.action, s.dataType, s.start, s.count, s.fds, s.argsz])).toEqual([
      ['trigger', 'eventfd', 0, 1, 1, 20],
      ['trigger', 'eventfd', 1, 1, 1, 20],
      ['trigger', 'eventfd', 2, 1, 1, 20],
      ['mask', 'none', 1, 2, 0, 20],
      ['unmask', 'bool', 0, 3, 0, 23],
      ['trigger', 'none', 2, 1, 0, 20],
      ['trigger', 'none', 0, 0, 0, 20],
    ]);
    expect(Array.from(sets[4]?.data ?? [])).toEqual([1, 0, 1]);
    await expect(client.enableIrq(VfioPciIrq.Msi, { start: 7, count: 2 })).rejects.toMatchObject({
      code: 'out-of-range',
    });
    await expect(client.enableIrq(4)).rejects.toMatchObject({ code: 'not-supported' });
  });

  it('checks accesses against the region before sending', async () => {
    const { client, requests } = await start({ sparseAreas: 0, writeMultiple: false, versionJson: false });
    const before = requests.length;
    await expect(client.read32(0, 0x10000)).rejects.toMatchObject({ code: 'out-of-range', region: 0 });
    await expect(client.read32(3, 0)).rejects.toMatchObject({ code: 'out-of-range' });
    await expect(client.read32(42, 0)).rejects.toMatchObject({ code: 'invalid-argument' });
    await expect(client.regionRead(0, -1, 4)).rejects.toMatchObject({ code: 'invalid-argument' });
    expect(requests.length).toBe(before);
  });
});
