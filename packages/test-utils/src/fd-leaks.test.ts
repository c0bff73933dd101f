import { closeSync, openSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { expectNoFdLeaks, leakedFds, ownFds } from './fd-leaks';
import { makeTempDir } from './temp-dir';

/** A listening UNIX socket server, the simplest socket descriptor plain Node can open. */
async function listen(): Promise<Server> {
  const dir = makeTempDir('vfu-fd-');
  onTestFinished(() => dir.remove());
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(dir.join('s.sock'), resolve);
  });
  return server;
}

function close(server: Server): Promise<void> {
  return new Promise((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
}

describe('ownFds', () => {
  it('lists a socket while it is open, and not after it is closed', async () => {
    const before = ownFds();
    const server = await listen();
    const opened = leakedFds(before);
    expect(opened).toHaveLength(1);
    expect(opened[0]?.[1]).toMatch(/^socket:\[\d+\]$/);
    await close(server);
    expect(leakedFds(before)).toEqual([]);
    expect(ownFds().has(opened[0]?.[0] ?? -1)).toBe(false);
  });

  it('ignores regular files', () => {
    const fd = openSync('/dev/null', 'r');
    try {
      expect(ownFds().has(fd)).toBe(false);
    } finally {
      closeSync(fd);
    }
  });
});

describe('leakedFds', () => {
  it('reports new numbers and numbers reused for another object, not closed ones', () => {
    const before = new Map([
      [10, 'socket:[1]'],
      [11, 'anon_inode:[eventfd]'],
      [12, '/memfd:a (deleted)'],
    ]);
    const after = new Map([
      [10, 'socket:[1]'],
      [11, 'socket:[2]'],
      [13, '/memfd:b (deleted)'],
    ]);
    expect(leakedFds(before, after)).toEqual([
      [11, 'socket:[2]'],
      [13, '/memfd:b (deleted)'],
    ]);
    expect(leakedFds(after, after)).toEqual([]);
  });
});

describe('expectNoFdLeaks', () => {
  /** Registers the check on recording hooks, to run them by hand around a fake test body. */
  function recordHooks(): { before: () => void; after: () => void } {
    const registered: { before?: () => void; after?: () => void } = {};
    expectNoFdLeaks({
      beforeEach: (fn) => {
        registered.before = fn;
      },
      afterEach: (fn) => {
        registered.after = fn;
      },
    });
    const { before, after } = registered;
    if (before === undefined || after === undefined) throw new Error('hooks were not registered');
    return { before, after };
  }

  it('fails a test that leaves a socket open, naming it', async () => {
    const hooks = recordHooks();
    hooks.before();
    const server = await listen();
    try {
      expect(() => hooks.after()).toThrow(/^descriptors left open by the test: \d+ -> socket:\[\d+\]$/);
    } finally {
      await close(server);
    }
  });

  it('passes a test that closes what it opened', async () => {
    const hooks = recordHooks();
    hooks.before();
    await close(await listen());
    expect(() => hooks.after()).not.toThrow();
  });

  it('does not blame a test for descriptors opened before it', async () => {
    const server = await listen();
    try {
      const hooks = recordHooks();
      hooks.before();
      expect(() => hooks.after()).not.toThrow();
    } finally {
      await close(server);
    }
  });
});
