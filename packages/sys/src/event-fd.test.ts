import { expectNoFdLeaks } from '@vfu/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventFd } from './event-fd';
import { createMemfd, OwnedFd } from './owned-fd';
import { UnixSocket } from './unix-socket';

expectNoFdLeaks({ beforeEach, afterEach });

describe('EventFd', () => {
  it('adds signals to the counter and read takes it all', () => {
    const e = EventFd.create();
    expect(e.read()).toBeNull();
    expect(e.signal()).toBe(true);
    expect(e.signal(4)).toBe(true);
    expect(e.read()).toBe(5n);
    expect(e.read()).toBeNull();
    e.close();
  });

  it('starts from the initial value and counts down by one in semaphore mode', () => {
    const e = EventFd.create({ initialValue: 2, semaphore: true });
    expect([e.read(), e.read(), e.read()]).toEqual([1n, 1n, null]);
    e.close();
  });

  it('returns false instead of blocking when the counter would overflow', () => {
    const e = EventFd.create();
    expect(e.signal(0xfffffffffffffffen)).toBe(true);
    expect(e.signal(1n)).toBe(false);
    expect(e.read()).toBe(0xfffffffffffffffen);
    e.close();
  });

  it('rejects values outside 1..2^64-2 and bad initial values', () => {
    const e = EventFd.create();
    expect(() => e.signal(0)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => e.signal(0xffffffffffffffffn)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(() => EventFd.create({ initialValue: -1 })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    e.close();
  });

  it('calls onSignal from the event loop with the value read, until stopped', async () => {
    const e = EventFd.create();
    const seen: bigint[] = [];
    const two = new Promise<void>((resolve) =>
      e.onSignal((v) => {
        seen.push(v);
        if (seen.length === 2) resolve();
        else setTimeout(() => e.signal(2), 1);
      }),
    );
    e.signal(3);
    await two;
    expect(seen).toEqual([3n, 2n]);
    e.onSignal(null);
    e.signal();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(seen).toHaveLength(2);
    expect(e.read()).toBe(1n);
    e.close();
  });

  it('wait resolves with the next value and rejects with FD_CLOSED if closed first', async () => {
    const e = EventFd.create();
    const next = e.wait();
    e.signal(9);
    await expect(next).resolves.toBe(9n);
    const never = e.wait();
    e.close();
    await expect(never).rejects.toMatchObject({ code: 'FD_CLOSED' });
    expect(() => e.signal()).toThrow(expect.objectContaining({ code: 'FD_CLOSED' }));
  });

  it('signals across a passed descriptor', async () => {
    const [a, b] = UnixSocket.pair();
    const local = EventFd.create();
    a.sendmsg(new Uint8Array(1), [local.fd]);
    const received = b.recvmsg(new Uint8Array(1), 1)!;
    const remote = EventFd.adopt(received.fds[0]!);
    const got = local.wait();
    remote.signal(6);
    await expect(got).resolves.toBe(6n);
    for (const x of [a, b, local, remote]) x.close();
  });

  it('reports a descriptor that cannot be polled when asked to watch it', () => {
    const notAnEventFd = EventFd.adopt(createMemfd('regular-file'));
    expect(() => notAnEventFd.onSignal(() => {})).toThrow(
      expect.objectContaining({ code: 'SYSCALL_FAILED', syscall: 'uv_poll_init', errnoName: 'EPERM' }),
    );
    notAnEventFd.close();
  });

  it('adopt fails on a descriptor that is gone', () => {
    const e = EventFd.create();
    const n = e.fd;
    const stolen = new OwnedFd(n);
    stolen.close();
    expect(() => EventFd.adopt(new OwnedFd(n))).toThrow(expect.objectContaining({ errnoName: 'EBADF' }));
    expect(() => e.close()).toThrow(expect.objectContaining({ errnoName: 'EBADF' }));
  });
});
