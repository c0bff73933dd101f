/**
 * A client that stalls or stops reading loses its connection, and the endpoint serves the next
 * client: before VERSION, halfway through a message, and with replies it never reads.
 */
import { Command, encodeHeader, encodeRequestPayload, HEADER_SIZE, VfioPciRegion } from '@vfu/protocol';
import { UnixSocket } from '@vfu/sys';
import { makeTempDir } from '@vfu/test-utils';
import { Channel, connect } from '@vfu/transport';
import { describe, expect, onTestFinished, test } from 'vitest';
import { type ConnectionCaps, VfioUserServer } from '../src/index';
import { TestClient, until } from './support/client';
import { DEVICE_ID_VALUE, REG, type TestDevice, testTree } from './support/device';
import { makeEndpoint } from './support/endpoint';

async function listening(connectionCaps: ConnectionCaps) {
  const dir = makeTempDir('vfu-caps-');
  const tree = testTree();
  const logs: string[] = [];
  const log = (level: string) => (msg: string) => logs.push(`${level}: ${msg}`);
  const server = new VfioUserServer({
    id: 's0',
    socketPath: dir.join('s0.sock'),
    tree,
    connectionCaps,
    logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
  });
  tree.deviceAdd({ driver: 'vfu-test', bus: 's0' }) as TestDevice;
  onTestFinished(async () => {
    await server.close();
    dir.remove();
  });
  await server.start();
  return { server, logs };
}

function disconnected(server: VfioUserServer): Promise<void> {
  return new Promise((resolve) => server.on('client-disconnected', resolve));
}

/** A well-behaved client over the socket: negotiates and reads the device's ID register. */
async function serves(server: VfioUserServer): Promise<number> {
  const client = new TestClient(await connect(server.socketPath));
  try {
    await client.negotiate();
    return await client.barRead32(0, REG.ID);
  } finally {
    await client.close();
  }
}

describe('connection caps', () => {
  test('a client that never sends VERSION is disconnected after handshakeTimeoutMs', async () => {
    const { server, logs } = makeEndpoint({ connectionCaps: { handshakeTimeoutMs: 30 } });
    const [a, b] = UnixSocket.pair();
    onTestFinished(() => b.close());
    const gone = disconnected(server);
    server.attach(new Channel(a));
    await gone;
    expect(logs.join('\n')).toMatch(/did not complete VERSION within 30 ms/);
    const client = TestClient.attach(server);
    onTestFinished(() => client.close());
    await client.negotiate();
    expect(await client.barRead32(0, REG.ID)).toBe(DEVICE_ID_VALUE);
  });

  test('half a header and a stall: the client is cut after messageTimeoutMs, the next one is served', async () => {
    const { server, logs } = await listening({ messageTimeoutMs: 30 });
    const socket = await UnixSocket.connect(server.socketPath);
    onTestFinished(() => socket.close());
    const gone = disconnected(server);
    const head = encodeHeader({
      msgId: 1,
      command: Command.Version,
      msgSize: HEADER_SIZE + 4,
      type: 'command',
    });
    expect(socket.sendmsg(head.subarray(0, 8))).toBe(8);
    await gone;
    expect(logs.join('\n')).toMatch(/client disconnected: the peer sent part of a message/);
    expect(await serves(server)).toBe(DEVICE_ID_VALUE);
  });

  test('a client that does not read its replies is cut at maxQueuedReplies, the next one is served', async () => {
    const { server, logs } = await listening({ maxQueuedReplies: 16 });
    const socket = await UnixSocket.connect(server.socketPath);
    onTestFinished(() => socket.close());
    const send = async (bytes: Uint8Array) => {
      for (let done = 0; done < bytes.length; ) {
        const n = socket.sendmsg(bytes.subarray(done));
        if (n === 0) await new Promise((resolve) => setTimeout(resolve, 1));
        done += n;
      }
    };
    const message = (msgId: number, command: Command, payload: Uint8Array) => {
      const out = new Uint8Array(HEADER_SIZE + payload.length);
      out.set(encodeHeader({ msgId, command, msgSize: out.length, type: 'command' }));
      out.set(payload, HEADER_SIZE);
      return out;
    };
    await send(message(1, Command.Version, encodeRequestPayload(Command.Version, { major: 0, minor: 2 })));
    await until(() => server.connected);
    const gone = disconnected(server);
    // Config-space reads sent without ever reading a reply: the socket fills, replies queue, and
    // the endpoint lets the client go at the cap rather than buffer without bound.
    const read = message(
      2,
      Command.RegionRead,
      encodeRequestPayload(Command.RegionRead, { offset: 0n, region: VfioPciRegion.Config, count: 256 }),
    );
    const burst = new Uint8Array(read.length * 100);
    for (let i = 0; i < 100; i++) burst.set(read, i * read.length);
    for (let i = 0; i < 100 && server.connected; i++) {
      await send(burst).catch(() => undefined);
    }
    await gone;
    expect(logs.join('\n')).toMatch(/does not read its replies: write queue holds 16 messages/);
    expect(await serves(server)).toBe(DEVICE_ID_VALUE);
  });
});
