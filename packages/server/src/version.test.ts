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

  test('another major version is refused with ENOTSUP', async () => {
    const { server } = makeEndpoint();
    const client = TestClient.attach(server);
    expect(await client.rawErrno(Command.Version, versionPayload(1, 0))).toBe(Errno.ENOTSUP);
    // The connection survives and a good VERSION still works.
    expect(await client.rawErrno(Command.Version, versionPayload(0, 2))).toBe(0);
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
