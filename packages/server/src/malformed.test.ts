import { Command, Errno, encodeMessage, HEADER_SIZE } from '@vfu/protocol';
import { EventFd, listOpenFds } from '@vfu/sys';
import { describe, expect, onTestFinished, test } from 'vitest';
import { TestClient } from '../test/support/client';
import { DEVICE_ID_VALUE, REG } from '../test/support/device';
import { connected, makeEndpoint } from '../test/support/endpoint';
import { RawPeer, VERSION_0_2 } from '../test/support/raw';

/** Payload bytes of a typed request. */
function payload(m: Parameters<typeof encodeMessage>[0]): Uint8Array {
  return encodeMessage(m).subarray(HEADER_SIZE);
}

const ERROR_REPLY = 0x21;
const GET_INFO = Uint8Array.of(16, 0, 0, 0, ...new Array(12).fill(0));

/** A `size`-byte little-endian struct with `fields` ([offset, width in bytes, value]) set. */
function struct(size: number, ...fields: [number, 4 | 8, number | bigint][]): Uint8Array {
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  for (const [at, width, value] of fields) {
    if (width === 4) v.setUint32(at, Number(value), true);
    else v.setBigUint64(at, BigInt(value), true);
  }
  return out;
}

async function rawNegotiated() {
  const ep = makeEndpoint();
  const peer = RawPeer.attach(ep.server);
  onTestFinished(() => peer.close());
  peer.sendMessage({ command: Command.Version, msgId: 1 }, VERSION_0_2);
  await peer.waitReplies(1);
  expect(peer.replies[0]?.flags).toBe(1);
  return { ...ep, peer };
}

describe('malformed headers (raw socket)', () => {
  test.each([
    ['an unknown command number', { command: 99 }, new Uint8Array(16), Errno.EINVAL],
    ['the unassigned command 14', { command: 14 }, new Uint8Array(8), Errno.EINVAL],
    [
      'reserved flag bits',
      { command: Command.DeviceGetInfo, rawFlags: 0x100 },
      Uint8Array.of(16, 0, 0, 0, ...new Array(12).fill(0)),
      Errno.EINVAL,
    ],
    [
      'Error flag in a command',
      { command: Command.DeviceGetInfo, rawFlags: 0x20 },
      new Uint8Array(16),
      Errno.EINVAL,
    ],
    ['a missing payload', { command: Command.DeviceGetInfo }, new Uint8Array(0), Errno.EINVAL],
    ['a DMA_READ sent to the server', { command: Command.DmaRead }, new Uint8Array(16), Errno.EINVAL],
    ['a DMA_WRITE sent to the server', { command: Command.DmaWrite }, new Uint8Array(20), Errno.EINVAL],
  ])(
    '%s gets the error reply it deserves and the endpoint keeps serving',
    async (_name, header, body, errno) => {
      const { peer, server } = await rawNegotiated();
      const before = server.stats().messagesIn;
      peer.sendMessage({ msgId: 7, ...header }, body);
      peer.sendMessage(
        { command: Command.DeviceGetInfo, msgId: 8 },
        Uint8Array.of(16, 0, 0, 0, ...new Array(12).fill(0)),
      );
      const replies = await peer.waitReplies(3);
      expect(replies[1]).toMatchObject({
        msgId: 7,
        command: header.command,
        msgSize: 16,
        flags: ERROR_REPLY,
        errorNo: errno,
      });
      expect(replies[2]).toMatchObject({ msgId: 8, flags: 1, msgSize: 32 });
      expect(server.stats().messagesIn).toBe(before + 2);
    },
  );

  test.each([2, 15])(
    'a type field of %i (neither command nor reply) gets an EINVAL error reply',
    async (type) => {
      const { peer } = await rawNegotiated();
      peer.sendMessage({ command: Command.DeviceGetInfo, msgId: 7, rawFlags: type }, GET_INFO);
      const replies = await peer.waitReplies(2, 300);
      expect(replies[1]).toMatchObject({ msgId: 7, flags: ERROR_REPLY, errorNo: Errno.EINVAL });
    },
  );

  test('a type field other than 0 or 1 is skipped whole: the stream stays in sync', async () => {
    const { peer, traces } = await rawNegotiated();
    peer.sendMessage({ command: Command.DeviceGetInfo, msgId: 7, rawFlags: 2 }, GET_INFO);
    peer.sendMessage({ command: Command.DeviceGetInfo, msgId: 8 }, GET_INFO);
    const replies = await peer.waitReplies(3);
    expect(replies[1]).toMatchObject({ msgId: 7, flags: ERROR_REPLY, errorNo: Errno.EINVAL });
    expect(replies[2]).toMatchObject({ msgId: 8, flags: 1, msgSize: 32 });
    expect(traces.some((t) => t.direction === 'rx' && /REJECTED EINVAL\(22\)/.test(t.text))).toBe(true);
  });

  test('a message above the size limit is skipped whole with E2BIG, in sync', async () => {
    const { peer, traces } = await rawNegotiated();
    const big = new Uint8Array(16 + (1 << 20) + 64);
    await peer.sendMessage({ command: Command.RegionWrite, msgId: 9 }, big);
    peer.sendMessage(
      { command: Command.DeviceGetInfo, msgId: 10 },
      Uint8Array.of(16, 0, 0, 0, ...new Array(12).fill(0)),
    );
    const replies = await peer.waitReplies(3);
    expect(replies[1]).toMatchObject({ msgId: 9, flags: ERROR_REPLY, errorNo: Errno.E2BIG });
    expect(replies[2]).toMatchObject({ msgId: 10, flags: 1 });
    expect(traces.some((t) => t.direction === 'rx' && /^REGION_WRITE REJECTED E2BIG\(7\)/.test(t.text))).toBe(
      true,
    );
  });

  test('an unsolicited reply is dropped without an answer', async () => {
    const { peer } = await rawNegotiated();
    peer.sendMessage({ command: Command.DmaRead, msgId: 77, type: 'reply' }, new Uint8Array(16));
    peer.sendMessage(
      { command: Command.DeviceGetInfo, msgId: 11 },
      Uint8Array.of(16, 0, 0, 0, ...new Array(12).fill(0)),
    );
    const replies = await peer.waitReplies(2);
    expect(replies).toHaveLength(2);
    expect(replies[1]).toMatchObject({ msgId: 11, flags: 1 });
  });

  test('a msg_size below 16 loses the stream: that connection closes, the endpoint takes the next client', async () => {
    const { peer, server } = await rawNegotiated();
    const gone = new Promise<void>((r) => server.on('client-disconnected', r));
    peer.sendMessage({ command: Command.DeviceGetInfo, msgSize: 8 });
    await gone;
    await peer.waitReplies(5, 200);
    expect(peer.ended).toBe(true);
    const next = TestClient.attach(server);
    onTestFinished(() => next.close());
    await next.negotiate();
    expect(await next.barRead32(0, REG.ID)).toBe(DEVICE_ID_VALUE);
  });
});

/** Waits until this process has `n` open fds (fds close asynchronously on the server side). */
async function fdCountSettles(n: number): Promise<number> {
  for (let i = 0; i < 50 && listOpenFds().length !== n; i++) await new Promise((r) => setTimeout(r, 5));
  return listOpenFds().length;
}

describe('header and ordering rules (raw socket)', () => {
  test('a msg_id reused by pipelined commands is echoed in each reply, in arrival order', async () => {
    const { peer } = await rawNegotiated();
    peer.sendMessage({ command: Command.DeviceGetInfo, msgId: 5 }, GET_INFO);
    peer.sendMessage(
      { command: Command.DeviceGetIrqInfo, msgId: 5 },
      Uint8Array.of(16, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0),
    );
    peer.sendMessage({ command: Command.DeviceGetInfo, msgId: 5 }, new Uint8Array(16));
    const replies = await peer.waitReplies(4);
    expect(replies.slice(1).map((r) => [r.msgId, r.command, r.flags, r.errorNo])).toEqual([
      [5, Command.DeviceGetInfo, 1, 0],
      [5, Command.DeviceGetIrqInfo, 1, 0],
      [5, Command.DeviceGetInfo, ERROR_REPLY, Errno.EINVAL],
    ]);
  });

  test('fds on messages rejected before dispatch (bad flags, unsolicited reply, unknown command) are closed', async () => {
    const { peer } = await rawNegotiated();
    const efd = EventFd.create();
    onTestFinished(() => efd.close());
    const before = listOpenFds().length;
    peer.sendMessage({ command: Command.DeviceGetInfo, msgId: 1, rawFlags: 0x100 }, GET_INFO, [efd]);
    peer.sendMessage({ command: Command.DmaRead, msgId: 2, type: 'reply' }, new Uint8Array(16), [efd]);
    peer.sendMessage({ command: 99, msgId: 3 }, new Uint8Array(16), [efd]);
    peer.sendMessage({ command: Command.DeviceGetInfo, msgId: 4 }, GET_INFO);
    const replies = await peer.waitReplies(4);
    expect(replies.slice(1).map((r) => [r.msgId, r.flags, r.errorNo])).toEqual([
      [1, ERROR_REPLY, Errno.EINVAL],
      [3, ERROR_REPLY, Errno.EINVAL],
      [4, 1, 0],
    ]);
    expect(await fdCountSettles(before)).toBe(before);
  });

  test('fds on a No_reply command that takes none are closed and nothing is answered', async () => {
    const { peer, server } = await rawNegotiated();
    const efd = EventFd.create();
    onTestFinished(() => efd.close());
    const before = listOpenFds().length;
    const errors = server.stats().errorsReplied;
    peer.sendMessage(
      { command: Command.RegionWrite, msgId: 1, noReply: true },
      Uint8Array.of(4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x5a),
      [efd],
    );
    peer.sendMessage({ command: Command.DeviceGetInfo, msgId: 2 }, GET_INFO);
    const replies = await peer.waitReplies(2);
    expect(replies.slice(1).map((r) => [r.msgId, r.flags])).toEqual([[2, 1]]);
    expect(server.stats().errorsReplied).toBe(errors);
    expect(await fdCountSettles(before)).toBe(before);
  });

  test('a No_reply command before VERSION is dropped silently; VERSION then succeeds', async () => {
    const ep = makeEndpoint();
    const peer = RawPeer.attach(ep.server);
    onTestFinished(() => peer.close());
    peer.sendMessage({ command: Command.DeviceReset, msgId: 1, noReply: true });
    peer.sendMessage({ command: Command.Version, msgId: 2 }, VERSION_0_2);
    const replies = await peer.waitReplies(1);
    await peer.waitReplies(2, 100);
    expect(replies.map((r) => [r.msgId, r.flags])).toEqual([[2, 1]]);
    expect(ep.device.resets).toEqual([]);
  });

  test('garbage after a valid message: the valid one is answered, then the stream is dropped', async () => {
    const { peer, server } = await rawNegotiated();
    const gone = new Promise<void>((r) => server.on('client-disconnected', r));
    const head = new Uint8Array(16);
    head.set([2, 0, 4, 0, 32, 0, 0, 0], 0);
    const all = new Uint8Array(32 + 16);
    all.set(head);
    all.set(GET_INFO, 16);
    all.set([0xde, 0xad, 0xbe, 0xef, 4, 0, 0, 0, 0xff, 0xff], 32); // msg_size 4: the stream is lost
    await peer.send(all);
    const replies = await peer.waitReplies(2);
    expect(replies[1]).toMatchObject({ msgId: 2, flags: 1, msgSize: 32 });
    await gone;
  });
});

describe('malformed payloads', () => {
  test.each([
    ['REGION_READ shorter than its struct', Command.RegionRead, new Uint8Array(8), Errno.EINVAL],
    [
      'GET_IRQ_INFO with trailing bytes',
      Command.DeviceGetIrqInfo,
      Uint8Array.of(16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4),
      Errno.EINVAL,
    ],
    ['GET_INFO with argsz below 16', Command.DeviceGetInfo, new Uint8Array(16), Errno.EINVAL],
    [
      'GET_REGION_INFO with non-zero reserved fields',
      Command.DeviceGetRegionInfo,
      Uint8Array.of(32, 0, 0, 0, 1, ...new Array(27).fill(0)),
      Errno.EINVAL,
    ],
    [
      'REGION_WRITE whose count differs from its data',
      Command.RegionWrite,
      Uint8Array.of(...new Array(8).fill(0), 7, 0, 0, 0, 4, 0, 0, 0, 1, 2),
      Errno.EINVAL,
    ],
    [
      'REGION_READ above max_data_xfer_size',
      Command.RegionRead,
      Uint8Array.of(...new Array(8).fill(0), 0, 0, 0, 0, 0, 0, 0x20, 0),
      Errno.E2BIG,
    ],
    [
      'DMA_MAP of size 0',
      Command.DmaMap,
      payload({
        kind: 'request',
        command: Command.DmaMap,
        msgId: 0,
        body: { argsz: 32, flags: 3, offset: 0n, addr: 0n, size: 1n },
      }).map((b, i) => (i >= 24 ? 0 : b)),
      Errno.EINVAL,
    ],
    [
      'DMA_MAP with unknown flags',
      Command.DmaMap,
      payload({
        kind: 'request',
        command: Command.DmaMap,
        msgId: 0,
        body: { argsz: 32, flags: 3, offset: 0n, addr: 0n, size: 4096n },
      }).map((b, i) => (i === 4 ? 0x13 : b)),
      Errno.EINVAL,
    ],
    [
      'DMA_UNMAP ALL with an address',
      Command.DmaUnmap,
      payload({
        kind: 'request',
        command: Command.DmaUnmap,
        msgId: 0,
        body: { argsz: 24, flags: 0, addr: 0x1000n, size: 0n },
      }).map((b, i) => (i === 4 ? 2 : b)),
      Errno.EINVAL,
    ],
    [
      'SET_IRQS with two ACTION bits',
      Command.DeviceSetIrqs,
      Uint8Array.of(20, 0, 0, 0, 0x31, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0),
      Errno.EINVAL,
    ],
    [
      'SET_IRQS DATA_BOOL without its bytes',
      Command.DeviceSetIrqs,
      Uint8Array.of(20, 0, 0, 0, 0x0a, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0),
      Errno.EINVAL,
    ],
    ['DEVICE_RESET with a payload', Command.DeviceReset, new Uint8Array(4), Errno.EINVAL],
    ['DMA_MAP shorter than its struct', Command.DmaMap, struct(24, [0, 4, 32], [4, 4, 3]), Errno.EINVAL],
    [
      'DMA_MAP with argsz below 32',
      Command.DmaMap,
      struct(32, [0, 4, 24], [4, 4, 3], [16, 8, 0x10000n], [24, 8, 0x1000n]),
      Errno.EINVAL,
    ],
    [
      'DMA_MAP whose range wraps past 2^64',
      Command.DmaMap,
      struct(32, [0, 4, 32], [4, 4, 3], [16, 8, 0xffff_ffff_ffff_f000n], [24, 8, 0x2000n]),
      Errno.EINVAL,
    ],
    [
      'DMA_MAP with the MMAP flag and no fd',
      Command.DmaMap,
      struct(32, [0, 4, 32], [4, 4, 7], [16, 8, 0x10000n], [24, 8, 0x1000n]),
      Errno.EINVAL,
    ],
    [
      'DMA_UNMAP with argsz below 24',
      Command.DmaUnmap,
      struct(24, [0, 4, 16], [8, 8, 0x10000n], [16, 8, 0x1000n]),
      Errno.EINVAL,
    ],
    [
      'DMA_UNMAP with GET_DIRTY_BITMAP and ALL together',
      Command.DmaUnmap,
      struct(24, [0, 4, 24], [4, 4, 3]),
      Errno.EINVAL,
    ],
    ['DMA_UNMAP with the VADDR flag', Command.DmaUnmap, struct(24, [0, 4, 24], [4, 4, 4]), Errno.EINVAL],
    [
      'DMA_UNMAP whose range wraps past 2^64',
      Command.DmaUnmap,
      struct(24, [0, 4, 24], [8, 8, 0xffff_ffff_ffff_f000n], [16, 8, 0x2000n]),
      Errno.EINVAL,
    ],
    [
      'GET_REGION_INFO with argsz below 32',
      Command.DeviceGetRegionInfo,
      struct(32, [0, 4, 16]),
      Errno.EINVAL,
    ],
    [
      'GET_REGION_IO_FDS with non-zero flags',
      Command.DeviceGetRegionIoFds,
      struct(16, [0, 4, 16], [4, 4, 1]),
      Errno.EINVAL,
    ],
    [
      'GET_REGION_IO_FDS with non-zero count',
      Command.DeviceGetRegionIoFds,
      struct(16, [0, 4, 16], [12, 4, 1]),
      Errno.EINVAL,
    ],
    [
      'GET_REGION_IO_FDS with argsz below 16',
      Command.DeviceGetRegionIoFds,
      struct(16, [0, 4, 8]),
      Errno.EINVAL,
    ],
    [
      'GET_IRQ_INFO with argsz below 16',
      Command.DeviceGetIrqInfo,
      struct(16, [0, 4, 8], [8, 4, 2]),
      Errno.EINVAL,
    ],
    [
      'SET_IRQS shorter than its struct',
      Command.DeviceSetIrqs,
      struct(16, [0, 4, 20], [4, 4, 0x21]),
      Errno.EINVAL,
    ],
    [
      'SET_IRQS with argsz below 20',
      Command.DeviceSetIrqs,
      struct(20, [0, 4, 16], [4, 4, 0x21], [8, 4, 2], [16, 4, 1]),
      Errno.EINVAL,
    ],
    [
      'SET_IRQS with no DATA bit',
      Command.DeviceSetIrqs,
      struct(20, [0, 4, 20], [4, 4, 0x20], [8, 4, 2], [16, 4, 1]),
      Errno.EINVAL,
    ],
    [
      'SET_IRQS with unknown flag bits',
      Command.DeviceSetIrqs,
      struct(20, [0, 4, 20], [4, 4, 0x121], [8, 4, 2], [16, 4, 1]),
      Errno.EINVAL,
    ],
    [
      'SET_IRQS count 0 with a non-zero start',
      Command.DeviceSetIrqs,
      struct(20, [0, 4, 20], [4, 4, 0x21], [8, 4, 2], [12, 4, 1]),
      Errno.EINVAL,
    ],
    [
      'SET_IRQS count 0 with anything but DATA_NONE|ACTION_TRIGGER',
      Command.DeviceSetIrqs,
      struct(20, [0, 4, 20], [4, 4, 0x09], [8, 4, 2]),
      Errno.EINVAL,
    ],
    [
      'REGION_READ whose offset + count wraps past 2^64',
      Command.RegionRead,
      struct(16, [0, 8, 0xffff_ffff_ffff_fffcn], [8, 4, 0], [12, 4, 8]),
      Errno.EINVAL,
    ],
    [
      'REGION_WRITE whose offset + count wraps past 2^64',
      Command.RegionWrite,
      struct(24, [0, 8, 0xffff_ffff_ffff_fffcn], [8, 4, 0], [12, 4, 8]),
      Errno.EINVAL,
    ],
    ['REGION_WRITE_MULTI with wr_cnt 0', Command.RegionWriteMulti, struct(8), Errno.EINVAL],
    [
      'REGION_WRITE_MULTI whose wr_cnt differs from its entries',
      Command.RegionWriteMulti,
      struct(32, [0, 8, 2n], [16, 4, 0], [20, 4, 4]),
      Errno.EINVAL,
    ],
    [
      'REGION_WRITE_MULTI with an entry count above 8',
      Command.RegionWriteMulti,
      struct(32, [0, 8, 1n], [8, 8, 4n], [16, 4, 0], [20, 4, 9]),
      Errno.EINVAL,
    ],
    ['DEVICE_FEATURE shorter than its head', Command.DeviceFeature, struct(4, [0, 4, 8]), Errno.EINVAL],
    [
      'DEVICE_FEATURE with argsz below 8',
      Command.DeviceFeature,
      struct(8, [0, 4, 4], [4, 4, 0x40006]),
      Errno.EINVAL,
    ],
    [
      'DEVICE_FEATURE with none of GET, SET, PROBE',
      Command.DeviceFeature,
      struct(8, [0, 4, 8], [4, 4, 6]),
      Errno.EINVAL,
    ],
    [
      'DEVICE_FEATURE with GET and SET but no PROBE',
      Command.DeviceFeature,
      struct(8, [0, 4, 8], [4, 4, 0x30008]),
      Errno.EINVAL,
    ],
    [
      'DEVICE_FEATURE with unknown flag bits',
      Command.DeviceFeature,
      struct(8, [0, 4, 8], [4, 4, 0x80000 | 0x40006]),
      Errno.EINVAL,
    ],
    ['VERSION shorter than major and minor', Command.Version, Uint8Array.of(0, 0), Errno.EINVAL],
  ])('%s: exact errno, and the endpoint keeps serving', async (_name, command, bytes, errno) => {
    const { client } = await connected();
    expect(await client.rawErrno(command, bytes)).toBe(errno);
    expect(await client.barRead32(0, REG.ID)).toBe(DEVICE_ID_VALUE);
  });

  test('fds attached where none belong are refused and closed', async () => {
    const { client } = await connected();
    const efd = EventFd.create();
    onTestFinished(() => efd.close());
    const before = listOpenFds().length;
    const read = payload({
      kind: 'request',
      command: Command.RegionRead,
      msgId: 0,
      body: { region: 7, offset: 0n, count: 4 },
    });
    expect(await client.rawErrno(Command.RegionRead, read, [efd])).toBe(Errno.EINVAL);
    const map = payload({
      kind: 'request',
      command: Command.DmaMap,
      msgId: 0,
      body: { argsz: 32, flags: 3, offset: 0n, addr: 0n, size: 4096n },
    });
    const e2 = EventFd.create();
    expect(await client.rawErrno(Command.DmaMap, map, [efd, e2])).toBe(Errno.EINVAL);
    e2.close();
    const nine = Array.from({ length: 9 }, () => efd);
    client.channel.setSendLimits({ maxMessageSize: 1 << 21, maxFdsPerMessage: 16 });
    expect(await client.rawErrno(Command.RegionRead, read, nine)).toBe(Errno.EINVAL);
    await new Promise((r) => setTimeout(r, 10));
    expect(listOpenFds().length).toBe(before);
    expect(await client.barRead32(0, REG.ID)).toBe(DEVICE_ID_VALUE);
  });

  test.each([
    ['VERSION', Command.Version, VERSION_0_2],
    ['DMA_UNMAP', Command.DmaUnmap, struct(24, [0, 4, 24], [4, 4, 2])],
    ['DEVICE_GET_INFO', Command.DeviceGetInfo, GET_INFO],
    ['DEVICE_GET_REGION_INFO', Command.DeviceGetRegionInfo, struct(32, [0, 4, 32])],
    ['DEVICE_GET_REGION_IO_FDS', Command.DeviceGetRegionIoFds, struct(16, [0, 4, 16])],
    ['DEVICE_GET_IRQ_INFO', Command.DeviceGetIrqInfo, struct(16, [0, 4, 16])],
    [
      'DEVICE_SET_IRQS with DATA_NONE',
      Command.DeviceSetIrqs,
      struct(20, [0, 4, 20], [4, 4, 0x21], [8, 4, 3], [16, 4, 1]),
    ],
    [
      'DEVICE_SET_IRQS with DATA_BOOL',
      Command.DeviceSetIrqs,
      Uint8Array.of(...struct(20, [0, 4, 21], [4, 4, 0x22], [8, 4, 3], [16, 4, 1]), 1),
    ],
    ['REGION_WRITE', Command.RegionWrite, Uint8Array.of(...struct(16, [0, 8, 4n], [12, 4, 1]), 7)],
    ['DEVICE_RESET', Command.DeviceReset, new Uint8Array(0)],
    ['REGION_WRITE_MULTI', Command.RegionWriteMulti, struct(32, [0, 8, 1n], [8, 8, 4n], [20, 4, 1])],
    ['DEVICE_FEATURE', Command.DeviceFeature, struct(8, [0, 4, 8], [4, 4, 0x40006])],
    ['MIG_DATA_READ', Command.MigDataRead, struct(8, [0, 4, 16], [4, 4, 8])],
  ])(
    'an fd attached to %s is refused with EINVAL and closed, and nothing happens',
    async (_name, command, bytes) => {
      const { client, server } = await connected();
      const efd = EventFd.create();
      onTestFinished(() => efd.close());
      const scratch = await client.barRead32(0, REG.SCRATCH);
      const before = listOpenFds().length;
      const eventfds = server.irqState(3).triggers;
      expect(await client.rawErrno(command, bytes, [efd])).toBe(Errno.EINVAL);
      expect(await fdCountSettles(before)).toBe(before);
      expect(server.irqState(3).triggers).toEqual(eventfds);
      expect(await client.barRead32(0, REG.SCRATCH)).toBe(scratch);
      expect(await client.barRead32(0, REG.ID)).toBe(DEVICE_ID_VALUE);
    },
  );

  test('a malformed No_reply command gets no reply; the next request is answered', async () => {
    const { client, server } = await connected();
    const before = server.stats().errorsReplied;
    await client.channel.post(Command.RegionRead, new Uint8Array(3));
    expect(await client.barRead32(0, REG.ID)).toBe(DEVICE_ID_VALUE);
    expect(server.stats().errorsReplied).toBe(before);
  });
});
