import { Command, Errno, encodeMessage, HEADER_SIZE } from '@vfu/protocol';
import { describe, expect, test } from 'vitest';
import { TestClient } from '../test/support/client';
import { makeEndpoint } from '../test/support/endpoint';

function versionPayload(major: number, minor: number, json?: string): Uint8Array {
  return encodeMessage({
    kind: 'request',
    command: Command.Version,
    msgId: 0,
    body: json === undefined ? { major, minor } : { major, minor, json },
  }).subarray(HEADER_SIZE);
}

describe('VERSION', () => {
  test('negotiates limits: our fds and transfer size, minor capped at 2, client proposal honoured', async () => {
    const { server } = makeEndpoint({ limits: { maxMsgFds: 4, maxDataXferSize: 65536 } });
    const client = TestClient.attach(server);
    const { reply, negotiated } = await client.negotiate({
      maxMsgFds: 16,
      maxDmaMaps: 10,
      writeMultiple: true,
    });
    expect(reply.major).toBe(0);
    expect(reply.minor).toBe(2);
    expect(reply.capabilities).toMatchObject({ maxMsgFds: 4, maxDataXferSize: 65536, maxDmaMaps: 10 });
    expect(negotiated.maxSendFds).toBe(4);
    expect(negotiated.writeMultiple).toBe(true);
    await client.close();
  });

  test('an older client (minor 0, no JSON) gets minor 0 and the spec defaults', async () => {
    const { server } = makeEndpoint();
    const client = TestClient.attach(server);
    const r = await client.call(Command.Version, { major: 0, minor: 0 });
    expect(r.body.minor).toBe(0);
    expect(r.body.capabilities).toMatchObject({ maxMsgFds: 8, maxDataXferSize: 1 << 20 });
    await client.close();
  });

  test('another major version is refused with ENOTSUP and the connection is closed; the next client is served', async () => {
    const { server } = makeEndpoint();
    const client = TestClient.attach(server);
    const gone = new Promise<void>((r) => server.on('client-disconnected', r));
    expect(await client.rawErrno(Command.Version, versionPayload(1, 0))).toBe(Errno.ENOTSUP);
    await gone;
    expect(server.connected).toBe(false);
    await client.close();
    const next = TestClient.attach(server);
    await next.negotiate();
    expect((await next.call(Command.DeviceGetInfo, { argsz: 16 })).body.numRegions).toBe(9);
    await next.close();
  });

  test('a VERSION payload shorter than major and minor is EINVAL; the connection stays for a good VERSION', async () => {
    const { server } = makeEndpoint();
    const client = TestClient.attach(server);
    expect(await client.rawErrno(Command.Version, Uint8Array.of(0, 0, 2))).toBe(Errno.EINVAL);
    expect(await client.rawErrno(Command.Version, versionPayload(0, 2))).toBe(0);
    await client.close();
  });

  test('a refused second VERSION leaves the session alone: DMA mappings and limits stay', async () => {
    const { server } = makeEndpoint({ limits: { maxDataXferSize: 4096 } });
    const client = TestClient.attach(server);
    await client.negotiate({ maxMsgFds: 8, maxDataXferSize: 4096 });
    expect(
      await client.errno(Command.DmaMap, { argsz: 32, flags: 3, offset: 0n, addr: 0x10000n, size: 0x1000n }),
    ).toBe(0);
    expect(
      await client.rawErrno(Command.Version, versionPayload(0, 2, '{"capabilities":{"max_msg_fds":1}}')),
    ).toBe(Errno.EINVAL);
    expect(server.dmaMappings).toHaveLength(1);
    expect(await client.errno(Command.DmaUnmap, { argsz: 24, flags: 0, addr: 0x10000n, size: 0x1000n })).toBe(
      0,
    );
    client.channel.setSendLimits({ maxMessageSize: 1 << 20, maxFdsPerMessage: 8 });
    expect(await client.errno(Command.RegionRead, { region: 2, offset: 0n, count: 8192 })).toBe(Errno.E2BIG);
    await client.close();
  });

  test('malformed capabilities are refused with EINVAL', async () => {
    const { server } = makeEndpoint();
    const client = TestClient.attach(server);
    expect(await client.rawErrno(Command.Version, versionPayload(0, 2, '{"capabilities":[]}'))).toBe(
      Errno.EINVAL,
    );
    expect(
      await client.rawErrno(Command.Version, versionPayload(0, 2, '{"capabilities":{"max_msg_fds":"x"}}')),
    ).toBe(Errno.EINVAL);
    const noNul = versionPayload(0, 2, '{}').subarray(0, -1);
    expect(await client.rawErrno(Command.Version, noNul)).toBe(Errno.EINVAL);
    await client.close();
  });

  test('any command before VERSION gets EINVAL, and a second VERSION too', async () => {
    const { server } = makeEndpoint();
    const client = TestClient.attach(server);
    expect(await client.errno(Command.DeviceGetInfo, { argsz: 16 })).toBe(Errno.EINVAL);
    await client.negotiate();
    expect(await client.errno(Command.Version, { major: 0, minor: 2 })).toBe(Errno.EINVAL);
    expect((await client.call(Command.DeviceGetInfo, { argsz: 16 })).body.numRegions).toBe(9);
    await client.close();
  });

  test('a VERSION carrying an fd is refused and the fd is not kept', async () => {
    const { server } = makeEndpoint();
    const client = TestClient.attach(server);
    const { EventFd } = await import('@vfu/sys');
    const efd = EventFd.create();
    expect(await client.rawErrno(Command.Version, versionPayload(0, 2), [efd.fd])).toBe(Errno.EINVAL);
    efd.close();
    await client.close();
  });
});
