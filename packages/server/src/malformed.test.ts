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

  test('a malformed No_reply command gets no reply; the next request is answered', async () => {
    const { client, server } = await connected();
    const before = server.stats().errorsReplied;
    await client.channel.post(Command.RegionRead, new Uint8Array(3));
    expect(await client.barRead32(0, REG.ID)).toBe(DEVICE_ID_VALUE);
    expect(server.stats().errorsReplied).toBe(before);
  });
});
