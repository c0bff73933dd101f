/**
 * What a peer can make a channel hold: queued replies it does not read, fds sent with a message
 * that never completes, and a message that stops halfway. Each is bounded by a cap, and crossing
 * a cap costs the peer its connection (or the one message), never the process its memory or fds.
 */
import { Command, Errno, encodeHeader, HEADER_SIZE } from '@vfu/protocol';
import { EventFd, UnixSocket } from '@vfu/sys';
import { expectNoFdLeaks, ownFds } from '@vfu/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Channel, type ChannelOptions } from './channel';
import { channelPair } from './connect';
import type { TransportError } from './errors';

expectNoFdLeaks({ beforeEach, afterEach });

const open: { destroy(): void }[] = [];
const sockets: UnixSocket[] = [];
afterEach(() => {
  for (const c of open.splice(0)) c.destroy();
  for (const s of sockets.splice(0)) if (!s.closed) s.close();
});

/** A channel on one end and the raw socket on the other, to send hand-made bytes. */
function rawPair(options: ChannelOptions = {}): [Channel, UnixSocket] {
  const [a, b] = UnixSocket.pair();
  const channel = new Channel(a, options);
  open.push(channel);
  sockets.push(b);
  return [channel, b];
}

function closed(channel: Channel): Promise<TransportError | undefined> {
  return new Promise((resolve) => channel.once('close', resolve));
}

/** Sends all of `bytes` (the test side writes little enough for the socket buffer). */
function sendAll(socket: UnixSocket, bytes: Uint8Array, fds: readonly number[] = []): void {
  const n = socket.sendmsg(bytes, fds);
  expect(n).toBe(bytes.length);
}

describe('a peer that does not read its replies', () => {
  it('is disconnected when the queued replies reach the message cap, the queue never beyond it', async () => {
    const cap = 32;
    const [server, peer] = rawPair({
      maxWriteQueueMessages: cap,
      sendLimits: { maxMessageSize: 1 << 20, maxFdsPerMessage: 1 },
    });
    const reply = new Uint8Array(16 * 1024);
    let handled = 0;
    let mostQueued = 0;
    server.onRequest(() => {
      handled++;
      mostQueued = Math.max(mostQueued, server.writableMessages);
      return { payload: reply };
    });
    const gone = closed(server);
    // Many small commands, read by the server, answered with replies the peer never reads.
    const commands = new Uint8Array(HEADER_SIZE * 2000);
    for (let i = 0; i < 2000; i++) {
      commands.set(
        encodeHeader({ msgId: i, command: Command.DeviceGetInfo, msgSize: HEADER_SIZE, type: 'command' }),
        i * HEADER_SIZE,
      );
    }
    for (let at = 0; at < commands.length; at += 4096) sendAll(peer, commands.subarray(at, at + 4096));
    const error = await gone;
    expect(error?.code).toBe('WRITE_QUEUE_FULL');
    expect(error?.message).toMatch(/does not read its replies.*32 messages/);
    expect(mostQueued).toBeLessThanOrEqual(cap);
    expect(handled).toBeLessThan(2000);
  });

  it('is disconnected at the byte cap too', async () => {
    const [server, peer] = rawPair({
      maxWriteQueueBytes: 256 * 1024,
      sendLimits: { maxMessageSize: 1 << 20, maxFdsPerMessage: 1 },
    });
    server.onRequest(() => ({ payload: new Uint8Array(64 * 1024) }));
    const gone = closed(server);
    for (let i = 0; i < 64; i++) {
      sendAll(
        peer,
        encodeHeader({ msgId: i, command: Command.DeviceGetInfo, msgSize: HEADER_SIZE, type: 'command' }),
      );
    }
    const error = await gone;
    expect(error?.code).toBe('WRITE_QUEUE_FULL');
    expect(server.writableLength).toBe(0);
  });
});

describe('fds sent with an unfinished message', () => {
  it('are kept only up to one over the per-message limit, the rest closed on receipt', async () => {
    const [server, peer] = rawPair({
      receiveLimits: { maxMessageSize: 4096, maxFdsPerMessage: 2 },
      messageTimeoutMs: 0,
    });
    server.onRequest(() => undefined);
    const efd = EventFd.create();
    try {
      const before = ownFds().size;
      // A 1000-byte message sent one byte at a time, every byte with an fd, never finished.
      sendAll(
        peer,
        encodeHeader({ msgId: 1, command: Command.RegionWrite, msgSize: 1016, type: 'command' }),
        [efd.fd],
      );
      for (let i = 0; i < 300; i++) {
        // Each byte waits for the channel to read the previous one (the socket holds few fds).
        while (peer.sendmsg(new Uint8Array(1), [efd.fd]) === 0) {
          await new Promise((resolve) => setImmediate(resolve));
        }
        if (i % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
      await new Promise((resolve) => setImmediate(resolve));
      expect(ownFds().size - before).toBeLessThanOrEqual(3);
    } finally {
      server.destroy();
      efd.close();
    }
  });

  it('refuses with EMFILE a message whose fds exceed what the connection may hold', async () => {
    const [client, server] = channelPair(
      { receiveLimits: { maxMessageSize: 4096, maxFdsPerMessage: 8 }, maxHeldFds: 3 },
      { sendLimits: { maxMessageSize: 4096, maxFdsPerMessage: 8 } },
    ).reverse() as [Channel, Channel];
    open.push(client, server);
    let reached = false;
    server.onRequest(() => {
      reached = true;
      return undefined;
    });
    const efds = Array.from({ length: 6 }, () => EventFd.create());
    try {
      const refused = await client
        .request(Command.DeviceSetIrqs, new Uint8Array(20), { fds: efds })
        .catch((e) => e);
      expect(refused.code).toBe('ERROR_REPLY');
      expect(refused.errno).toBe(Errno.EMFILE);
      expect(reached).toBe(false);
      // The connection is still in sync and serves the next message.
      await client.request(Command.DeviceReset);
      expect(reached).toBe(true);
    } finally {
      for (const e of efds) e.close();
    }
  });
});

describe('a message that stops halfway', () => {
  it('closes the channel with TIMEOUT after messageTimeoutMs, releasing its fds', async () => {
    const [server, peer] = rawPair({ messageTimeoutMs: 50 });
    server.onRequest(() => undefined);
    const gone = closed(server);
    const efd = EventFd.create();
    try {
      // Half a header, with an fd, then nothing.
      sendAll(
        peer,
        encodeHeader({ msgId: 1, command: Command.DeviceReset, msgSize: 16, type: 'command' }).subarray(0, 8),
        [efd.fd],
      );
      const error = await gone;
      expect(error?.code).toBe('TIMEOUT');
      expect(error?.message).toMatch(/part of a message/);
    } finally {
      efd.close();
    }
  });

  it('leaves a channel alone that is idle between messages', async () => {
    const [client, server] = channelPair({ messageTimeoutMs: 20 });
    open.push(client, server);
    server.onRequest(() => undefined);
    await client.request(Command.DeviceReset);
    await new Promise((resolve) => setTimeout(resolve, 60));
    await client.request(Command.DeviceReset);
    expect(server.closed).toBe(false);
  });
});
