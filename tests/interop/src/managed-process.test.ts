import { readFileSync } from 'node:fs';
import { makeTempDir } from '@vfu/test-utils';
import { describe, expect, onTestFinished, test } from 'vitest';
import { isInteropError } from './errors';
import { startManagedProcess } from './managed-process';

/** Running, not a zombie waiting to be reaped by whoever inherited it. */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('startManagedProcess', () => {
  test('stop() ends the whole process group, children included', async () => {
    const p = await startManagedProcess({
      name: 'tree',
      command: 'sh',
      args: ['-c', 'sleep 600 & echo child=$!; wait'],
    });
    await p.waitForOutput(/child=\d+/, 5000);
    const childPid = Number(/child=(\d+)/.exec(p.log())![1]);
    expect(alive(childPid)).toBe(true);
    const exit = await p.stop();
    expect(exit.signal).toBe('SIGTERM');
    // The grandchild got the group's signal too.
    await new Promise((r) => setTimeout(r, 100));
    expect(alive(childPid)).toBe(false);
  });

  test('a process ignoring SIGTERM is killed after the grace period', async () => {
    const p = await startManagedProcess({
      name: 'stubborn',
      command: 'sh',
      args: ['-c', "trap '' TERM; echo up; sleep 600 & wait"],
    });
    await p.waitForOutput(/up/, 5000);
    const exit = await p.stop(200);
    expect(exit.signal).toBe('SIGKILL');
  });

  test('waitForPath fails with the output when the process exits first', async () => {
    const dir = makeTempDir();
    onTestFinished(() => dir.remove());
    const p = await startManagedProcess({
      name: 'quitter',
      command: 'sh',
      args: ['-c', 'echo cannot bind; exit 3'],
    });
    const error = await p.waitForPath(dir.join('never.sock'), 5000).catch((e: unknown) => e);
    expect(isInteropError(error) && error.code).toBe('server-exited');
    expect(String((error as Error).message)).toContain('cannot bind');
    expect((await p.exited).code).toBe(3);
  });

  test('waitForPath resolves once the file appears', async () => {
    const dir = makeTempDir();
    onTestFinished(() => dir.remove());
    const path = dir.join('ready');
    const p = await startManagedProcess({
      name: 'maker',
      command: 'sh',
      args: ['-c', `sleep 0.2; touch ${path}; sleep 600`],
    });
    onTestFinished(() => p.stop().then(() => undefined));
    await expect(p.waitForPath(path, 5000)).resolves.toBeUndefined();
  });

  test('a missing program is a server-start-failed error', async () => {
    const error = await startManagedProcess({ name: 'nope', command: '/nonexistent/bin', args: [] }).catch(
      (e: unknown) => e,
    );
    expect(isInteropError(error) && error.code).toBe('server-start-failed');
  });
});
