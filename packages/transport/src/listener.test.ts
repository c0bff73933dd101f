import { renameSync, statSync, writeFileSync } from 'node:fs';
import { Command } from '@vfu/protocol';
import { createMemfd, UnixListener, UnixSocket } from '@vfu/sys';
import { expectNoFdLeaks, makeTempDir, type TempDir } from '@vfu/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Channel } from './channel';
import { channelFromFd, channelPair, connect } from './connect';
import { listen } from './listener';

expectNoFdLeaks({ beforeEach, afterEach });

let dir: TempDir;
const cleanup: (() => void)[] = [];
beforeEach(() => {
  dir = makeTempDir();
});
afterEach(() => {
  for (const f of cleanup.splice(0).reverse()) f();
  dir.remove();
});

function track<T extends { close(): unknown } | Channel>(x: T): T {
  cleanup.push(() => ('destroy' in x ? x.destroy() : void x.close()));
  return x;
}

describe('listen', () => {
  it('creates the socket with mode 0600, serves a client and removes the socket file on close', async () => {
    const path = dir.join('dev.sock');
    const listener = listen(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const accepted = listener.accept();
    const client = track(await connect(path));
    const server = track(await accepted);
    server.onRequest((req) => ({ payload: req.payload }));
    const reply = await client.request(Command.DeviceGetInfo, new Uint8Array([4, 2]));
    expect([...reply.payload]).toEqual([4, 2]);
    listener.close();
    expect(() => statSync(path)).toThrow();
    // Channels already handed out outlive the listener.
    expect((await client.request(Command.DeviceGetInfo)).payload.length).toBe(0);
  });

  it('applies a custom mode', () => {
    const listener = track(listen(dir.join('m.sock'), { mode: 0o660 }));
    expect(statSync(listener.path).mode & 0o777).toBe(0o660);
  });

  it('replaces a stale socket left by a process that died', async () => {
    const path = dir.join('stale.sock');
    UnixListener.listen(path).close(); // the file stays, nobody listens
    const listener = track(listen(path));
    const client = track(await connect(path));
    track(await listener.accept());
    expect(client.closed).toBe(false);
  });

  it('refuses to displace a live socket, leaving it working', async () => {
    const path = dir.join('live.sock');
    const first = track(listen(path));
    expect(() => listen(path)).toThrow(expect.objectContaining({ code: 'ADDRESS_IN_USE', path }));
    const client = track(await connect(path));
    track(await first.accept());
    expect(client.closed).toBe(false);
    expect(statSync(path).isSocket()).toBe(true);
  });

  it('refuses a path that is not a socket and does not remove it', () => {
    const path = dir.join('file');
    writeFileSync(path, 'data');
    expect(() => listen(path)).toThrow(expect.objectContaining({ code: 'ADDRESS_IN_USE' }));
    expect(statSync(path).isFile()).toBe(true);
  });

  it('does not remove a socket file that another server put at its path', () => {
    const path = dir.join('moved.sock');
    const mine = listen(path);
    renameSync(path, dir.join('old.sock'));
    const theirs = track(UnixListener.listen(path));
    mine.close();
    expect(statSync(path).isSocket()).toBe(true);
    expect(theirs.closed).toBe(false);
  });

  it('fails with LISTEN_FAILED for a path that cannot be bound', () => {
    expect(() => listen(dir.join('no-such-dir', 's'))).toThrow(
      expect.objectContaining({ code: 'LISTEN_FAILED', errno: 2 }),
    );
    expect(() => listen(dir.join('x'.repeat(120)))).toThrow(
      expect.objectContaining({ code: 'LISTEN_FAILED' }),
    );
    expect(() => listen('')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('emits channels to a listener, or queues them for accept / async iteration', async () => {
    const path = dir.join('iter.sock');
    const listener = track(listen(path));
    const clients = [track(await connect(path)), track(await connect(path))];
    const served: Channel[] = [];
    for await (const channel of listener) {
      served.push(track(channel));
      if (served.length === 2) break;
    }
    const emitted = new Promise<Channel>((resolve) => listener.once('channel', resolve));
    clients.push(track(await connect(path)));
    served.push(track(await emitted));
    expect(served).toHaveLength(3);
    const pendingAccept = listener.accept();
    listener.close();
    await expect(pendingAccept).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('closes connections nobody claimed when it closes', async () => {
    const path = dir.join('unclaimed.sock');
    const listener = listen(path);
    const client = track(await connect(path));
    const closed = new Promise((resolve) => client.once('close', resolve));
    await new Promise((resolve) => setTimeout(resolve, 10));
    listener.close();
    expect(await closed).toMatchObject({ code: 'PEER_CLOSED' });
  });
});

describe('connect and channelFromFd', () => {
  it('fails with CONNECT_FAILED and the errno for a missing path or a dead socket', async () => {
    await expect(connect(dir.join('missing'))).rejects.toMatchObject({
      code: 'CONNECT_FAILED',
      errno: 2,
      message: `cannot connect to ${dir.join('missing')}: No such file or directory`,
    });
    const path = dir.join('dead');
    UnixListener.listen(path).close();
    await expect(connect(path)).rejects.toMatchObject({ code: 'CONNECT_FAILED', errno: 111 });
  });

  it('opens a second channel on a socket passed in a reply (twin-socket style)', async () => {
    const limits = { maxMessageSize: 4096, maxFdsPerMessage: 1 };
    const [client, server] = channelPair({ receiveLimits: limits, sendLimits: limits });
    track(client);
    track(server);
    const [serverEnd, clientEnd] = UnixSocket.pair();
    const serverTwin = track(new Channel(serverEnd));
    serverTwin.onRequest(() => ({ payload: new Uint8Array([9]) }));
    server.onRequest(() => ({ fds: [clientEnd] }));
    const reply = await client.request(Command.Version, new Uint8Array(4), { acceptFds: 1 });
    clientEnd.close();
    const twin = track(channelFromFd(reply.takeFds()[0]!));
    expect([...(await twin.request(Command.DmaRead)).payload]).toEqual([9]);
  });

  it('refuses an fd that is not a socket and leaves it to the caller', () => {
    const memfd = createMemfd('not-a-socket');
    expect(() => channelFromFd(memfd)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(memfd.closed).toBe(false);
    memfd.close();
  });
});
