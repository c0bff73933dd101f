import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { expectNoFdLeaks, makeTempDir, ownFds, type TempDir } from '@vfu/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SysError } from './errors';
import { createMemfd, OwnedFd } from './owned-fd';
import { UnixListener, UnixSocket } from './unix-socket';

expectNoFdLeaks({ beforeEach, afterEach });

const bytes = (...b: number[]) => new Uint8Array(b);

function isCloexec(fd: number): boolean {
  const flags = /flags:\s*(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!;
  return (Number.parseInt(flags, 8) & 0o2000000) !== 0;
}

function nextReadable(socket: UnixSocket): Promise<void> {
  return new Promise((resolve) =>
    socket.onReadable(() => {
      socket.onReadable(null);
      resolve();
    }),
  );
}

describe('UnixSocket pair: sendmsg/recvmsg', () => {
  let a: UnixSocket;
  let b: UnixSocket;
  beforeEach(() => {
    [a, b] = UnixSocket.pair();
  });
  afterEach(() => {
    a.close();
    b.close();
  });

  it('returns null instead of blocking when nothing is waiting', () => {
    expect(b.recvmsg(new Uint8Array(16))).toBeNull();
  });

  it('gathers several buffers into one stream write', () => {
    expect(a.sendmsg([bytes(1, 2), bytes(), bytes(3, 4, 5)])).toBe(5);
    const buf = new Uint8Array(16);
    expect(b.recvmsg(buf)).toEqual({ bytes: 5, fds: [], droppedFds: 0 });
    expect([...buf.subarray(0, 5)]).toEqual([1, 2, 3, 4, 5]);
  });

  it('delivers a message in pieces when the buffer is smaller (partial reads)', () => {
    a.sendmsg(bytes(1, 2, 3, 4, 5, 6, 7));
    const buf = new Uint8Array(3);
    const seen: number[] = [];
    for (let r = b.recvmsg(buf); r !== null; r = b.recvmsg(buf)) seen.push(...buf.subarray(0, r.bytes));
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('returns several messages worth of bytes in one read when they carry no fds', () => {
    a.sendmsg(bytes(1, 2));
    a.sendmsg(bytes(3));
    a.sendmsg(bytes(4, 5));
    const buf = new Uint8Array(64);
    expect(b.recvmsg(buf)?.bytes).toBe(5);
  });

  it('passes fds with the first bytes of a message, close-on-exec, and keeps them apart per message', () => {
    const m1 = createMemfd('one', { size: 4096 });
    const m2 = createMemfd('two', { size: 8192 });
    a.sendmsg(bytes(1, 1, 1), [m1]);
    a.sendmsg(bytes(2, 2), [m2, m1]);
    a.sendmsg(bytes(3));
    m1.close();
    m2.close();
    const buf = new Uint8Array(64);
    const first = b.recvmsg(buf, 4)!;
    // The kernel never merges bytes that carry fds with a following message's bytes.
    expect(first.bytes).toBe(3);
    expect(first.fds.map((f) => f.size())).toEqual([4096]);
    const second = b.recvmsg(buf, 4)!;
    expect(second.bytes).toBe(2);
    expect(second.fds.map((f) => f.size())).toEqual([8192, 4096]);
    for (const f of [...first.fds, ...second.fds]) {
      expect(isCloexec(f.fd)).toBe(true);
      f.close();
    }
    expect(b.recvmsg(buf, 4)).toEqual({ bytes: 1, fds: [], droppedFds: 0 });
  });

  it('closes received fds beyond the caller limit and counts them', () => {
    const fds = [createMemfd('a'), createMemfd('b'), createMemfd('c')];
    a.sendmsg(bytes(9), fds);
    for (const f of fds) f.close();
    const before = ownFds().size;
    const r = b.recvmsg(new Uint8Array(8), 1)!;
    expect(r.fds).toHaveLength(1);
    expect(r.droppedFds).toBe(2);
    expect(ownFds().size).toBe(before + 1);
    r.fds[0]!.close();
  });

  it('closes every received fd when the limit is 0', () => {
    const m = createMemfd('x');
    a.sendmsg(bytes(1), [m, m]);
    m.close();
    expect(b.recvmsg(new Uint8Array(8))).toEqual({ bytes: 1, fds: [], droppedFds: 2 });
  });

  it('accepts raw descriptor numbers and rejects invalid ones', () => {
    const m = createMemfd('raw');
    expect(a.sendmsg(bytes(1), [m.fd])).toBe(1);
    m.close();
    const r = b.recvmsg(new Uint8Array(8), 1)!;
    r.fds[0]!.close();
    expect(() => a.sendmsg(bytes(1), [-3])).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => a.sendmsg(bytes(1), [m])).toThrow(expect.objectContaining({ code: 'FD_CLOSED' }));
  });

  it('fails sendmsg with EBADF for a descriptor that is not open, sending nothing', () => {
    const m = createMemfd('stale');
    const n = m.release();
    new OwnedFd(n).close();
    expect(() => a.sendmsg(bytes(1), [n])).toThrow(
      expect.objectContaining({ syscall: 'sendmsg', errnoName: 'EBADF' }),
    );
    expect(b.recvmsg(new Uint8Array(8))).toBeNull();
  });

  it('reports end of stream as a 0-byte read and a dead peer as EPIPE on send', () => {
    b.close();
    expect(() => a.sendmsg(bytes(1))).toThrow(expect.objectContaining({ errnoName: 'EPIPE' }));
    a.close();
    [a, b] = UnixSocket.pair();
    a.close();
    expect(b.recvmsg(new Uint8Array(4))).toEqual({ bytes: 0, fds: [], droppedFds: 0 });
  });

  it('returns 0 from sendmsg when the socket buffer is full, then signals writable after the peer reads', async () => {
    const chunk = new Uint8Array(64 * 1024);
    let total = 0;
    for (let n = a.sendmsg(chunk); n > 0; n = a.sendmsg(chunk)) total += n;
    expect(total).toBeGreaterThan(0);
    const writable = new Promise<void>((resolve) =>
      a.onWritable(() => {
        a.onWritable(null);
        resolve();
      }),
    );
    const buf = new Uint8Array(256 * 1024);
    let drained = 0;
    while (drained < total) drained += b.recvmsg(buf)?.bytes ?? 0;
    await writable;
    expect(drained).toBe(total);
  });

  it('calls onReadable from the event loop when bytes arrive, and after the peer closes', async () => {
    const ready = nextReadable(b);
    setTimeout(() => a.sendmsg(bytes(7)), 5);
    await ready;
    expect(b.recvmsg(new Uint8Array(4))?.bytes).toBe(1);
    const eof = nextReadable(b);
    a.close();
    await eof;
    expect(b.recvmsg(new Uint8Array(4))?.bytes).toBe(0);
  });

  it('keeps calling onReadable after a poll error until the reader has drained the data (peer reset)', async () => {
    // b dies with bytes of ours unread: the kernel marks a with ECONNRESET, so libuv reports a poll
    // error and stops the handle. Data queued for a must still be readable, one callback at a time.
    for (let i = 0; i < 8; i++) b.sendmsg(new Uint8Array(16).fill(i));
    a.sendmsg(new Uint8Array(32));
    b.close();
    let received = 0;
    let failure: unknown;
    await new Promise<void>((resolve) => {
      a.onReadable(() => {
        try {
          const chunk = a.recvmsg(new Uint8Array(16));
          if (chunk === null) return;
          received += chunk.bytes;
          if (chunk.bytes === 0) {
            a.onReadable(null);
            resolve();
          }
        } catch (error) {
          failure = error;
          a.onReadable(null);
          resolve();
        }
      });
    });
    expect(received).toBe(128);
    expect(failure === undefined || (failure as SysError).errno === 104).toBe(true);
  });

  it('shutdown(write) gives the peer end of stream while the socket stays open', () => {
    a.sendmsg(bytes(1, 2));
    a.shutdown('write');
    const buf = new Uint8Array(8);
    expect(b.recvmsg(buf)?.bytes).toBe(2);
    expect(b.recvmsg(buf)?.bytes).toBe(0);
    expect(() => a.sendmsg(bytes(1))).toThrow(expect.objectContaining({ errnoName: 'EPIPE' }));
  });

  it('throws FD_CLOSED for every use after close', () => {
    a.close();
    expect(() => a.sendmsg(bytes(1))).toThrow(expect.objectContaining({ code: 'FD_CLOSED' }));
    expect(() => a.recvmsg(new Uint8Array(1))).toThrow(expect.objectContaining({ code: 'FD_CLOSED' }));
    expect(() => a.onReadable(() => {})).not.toThrow();
  });
});

describe('UnixSocket.adopt', () => {
  it('takes a socket received from a peer', () => {
    const [a, b] = UnixSocket.pair();
    const [c, d] = UnixSocket.pair();
    a.sendmsg(bytes(0), [c.fd]);
    c.close();
    const received = b.recvmsg(new Uint8Array(1), 1)!;
    const adopted = UnixSocket.adopt(received.fds[0]!);
    adopted.sendmsg(bytes(42));
    const buf = new Uint8Array(1);
    expect(d.recvmsg(buf)?.bytes).toBe(1);
    expect(buf[0]).toBe(42);
    for (const s of [a, b, d, adopted]) s.close();
  });

  it('refuses a descriptor that is not a UNIX stream socket and leaves it to the caller', () => {
    const m = createMemfd('not-a-socket');
    expect(() => UnixSocket.adopt(m)).toThrow(expect.objectContaining({ errnoName: 'ENOTSOCK' }));
    expect(m.closed).toBe(false);
    m.close();
  });
});

describe('UnixListener and connect', () => {
  let dir: TempDir;
  beforeEach(() => {
    dir = makeTempDir();
  });
  afterEach(() => dir.remove());

  it('listens with mode 0600 by default, accepts and exchanges bytes with fds', async () => {
    const path = dir.join('s');
    const listener = UnixListener.listen(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(path).isSocket()).toBe(true);
    const accepted = new Promise<UnixSocket>((resolve) => listener.onConnection(resolve));
    const client = await UnixSocket.connect(path);
    const server = await accepted;
    const m = createMemfd('over-path', { size: 12288 });
    client.sendmsg(bytes(5), [m]);
    m.close();
    await nextReadable(server);
    const r = server.recvmsg(new Uint8Array(4), 1)!;
    expect(r.fds[0]!.size()).toBe(12288);
    r.fds[0]!.close();
    for (const s of [client, server, listener]) s.close();
  });

  it('applies the requested mode', () => {
    const listener = UnixListener.listen(dir.join('m'), { mode: 0o660 });
    expect(statSync(dir.join('m')).mode & 0o777).toBe(0o660);
    listener.close();
  });

  it('accept returns null when no connection waits', () => {
    const listener = UnixListener.listen(dir.join('a'));
    expect(listener.accept()).toBeNull();
    listener.close();
  });

  it('fails with EADDRINUSE on an existing path and ENAMETOOLONG on a path over 107 bytes', () => {
    const path = dir.join('busy');
    writeFileSync(path, 'x');
    expect(() => UnixListener.listen(path)).toThrow(
      expect.objectContaining({ syscall: 'bind', errnoName: 'EADDRINUSE', path }),
    );
    expect(() => UnixListener.listen(dir.join('n'.repeat(120)))).toThrow(
      expect.objectContaining({ errnoName: 'ENAMETOOLONG' }),
    );
  });

  it('connect distinguishes a missing path (ENOENT) from a stale socket file (ECONNREFUSED)', async () => {
    await expect(UnixSocket.connect(dir.join('missing'))).rejects.toMatchObject({ errnoName: 'ENOENT' });
    const listener = UnixListener.listen(dir.join('stale'));
    listener.close();
    await expect(UnixSocket.connect(dir.join('stale'))).rejects.toMatchObject({ errnoName: 'ECONNREFUSED' });
    expect(() => UnixSocket.connectSync(dir.join('stale'))).toThrow(SysError);
  });

  it('connect retries while the backlog is full and gives up with EAGAIN after its timeout', async () => {
    const path = dir.join('busy-backlog');
    const listener = UnixListener.listen(path, { backlog: 0 });
    const queued: UnixSocket[] = [];
    try {
      for (let i = 0; i < 16; i++) queued.push(UnixSocket.connectSync(path));
    } catch (error) {
      expect(error).toMatchObject({ syscall: 'connect', errnoName: 'EAGAIN' });
    }
    expect(queued.length).toBeLessThan(16);
    await expect(UnixSocket.connect(path, { timeoutMs: 20 })).rejects.toMatchObject({ errnoName: 'EAGAIN' });
    // Once the server accepts, a waiting connect gets through.
    const late = UnixSocket.connect(path, { timeoutMs: 2000 });
    const accepted: UnixSocket[] = [];
    for (let s = listener.accept(); s; s = listener.accept()) accepted.push(s);
    const socket = await late;
    for (const s of [socket, ...queued, ...accepted, listener]) s.close();
  });

  it('stops accepting after close and keeps the socket file', async () => {
    const path = dir.join('closed');
    const listener = UnixListener.listen(path);
    listener.onConnection(() => {});
    listener.close();
    listener.close();
    expect(statSync(path).isSocket()).toBe(true);
    expect(() => listener.accept()).toThrow(expect.objectContaining({ code: 'FD_CLOSED' }));
  });
});
