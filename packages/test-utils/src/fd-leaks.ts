import { readdirSync, readlinkSync } from 'node:fs';

/**
 * Link-target prefixes of the descriptor kinds the workspace creates: sockets, eventfds
 * (`anon_inode:[eventfd]`) and memfds. Regular files are left out because the test runner opens
 * and closes its own, and their churn must not fail a test.
 */
const TRACKED_TARGET_PREFIXES = ['socket:', 'anon_inode:', '/memfd:'] as const;

/** This process's open sockets, eventfds and memfds, from `/proc/self/fd`: number to link target. */
export function ownFds(): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${name}`);
    } catch {
      continue; // the directory handle readdirSync used, already closed
    }
    if (TRACKED_TARGET_PREFIXES.some((prefix) => target.startsWith(prefix))) {
      out.set(Number(name), target);
    }
  }
  return out;
}

/**
 * Descriptors of `after` that were not open in `before`. A number reused for another object
 * counts as leaked, since the kernel hands out the lowest free number.
 */
export function leakedFds(
  before: ReadonlyMap<number, string>,
  after: ReadonlyMap<number, string> = ownFds(),
): [fd: number, target: string][] {
  return [...after].filter(([fd, target]) => before.get(fd) !== target);
}

/** The hook registrars of the test runner (vitest's `beforeEach` and `afterEach`). */
export interface FdLeakHooks {
  beforeEach(fn: () => void): unknown;
  afterEach(fn: () => void): unknown;
}

/**
 * Fails every test of the enclosing suite that leaves a socket, eventfd or memfd open that was not
 * open before it. The runner's hooks are passed in so that this module does not import it.
 *
 * @example
 * import { afterEach, beforeEach } from 'vitest';
 * expectNoFdLeaks({ beforeEach, afterEach });
 */
export function expectNoFdLeaks(hooks: FdLeakHooks): void {
  let before: ReadonlyMap<number, string> = new Map();
  hooks.beforeEach(() => {
    before = ownFds();
  });
  hooks.afterEach(() => {
    const leaked = leakedFds(before);
    if (leaked.length > 0) {
      const list = leaked.map(([fd, target]) => `${fd} -> ${target}`).join(', ');
      throw new Error(`descriptors left open by the test: ${list}`);
    }
  });
}
