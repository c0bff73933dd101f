import { readdirSync, readlinkSync } from 'node:fs';
import { afterEach, beforeEach, expect } from 'vitest';

/**
 * Descriptors of the kinds this package creates (sockets, eventfds, memfds), keyed by number.
 * Other descriptors (the test runner's files) are ignored so their churn cannot fail a test.
 */
export function ownFds(): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${name}`);
    } catch {
      continue; // the directory handle itself, already closed
    }
    if (target.startsWith('socket:') || target.startsWith('anon_inode:') || target.startsWith('/memfd:')) {
      out.set(Number(name), target);
    }
  }
  return out;
}

/** Fails the current test if it leaves a socket, eventfd or memfd open that was not open before it. */
export function expectNoFdLeaks(): void {
  let before = new Map<number, string>();
  beforeEach(() => {
    before = ownFds();
  });
  afterEach(() => {
    const leaked = [...ownFds()].filter(([fd, target]) => before.get(fd) !== target);
    expect(leaked).toEqual([]);
  });
}
