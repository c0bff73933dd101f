// The SIGBUS guard, each scenario in a child process: without the guard a truncated mapping kills
// the process that touches it (exit by SIGBUS), which would take the test runner along.
import { fileURLToPath } from 'node:url';
import { makeTempDir, runProcess } from '@vfu/test-utils';
import { describe, expect, it, onTestFinished } from 'vitest';

const script = fileURLToPath(new URL('./fixtures/guard-child.ts', import.meta.url));

async function run(...args: string[]) {
  const r = await runProcess(process.execPath, ['--import', 'tsx', script, ...args], { timeoutMs: 30_000 });
  const last = r.stdout.trim().split('\n').at(0) ?? '';
  let out: Record<string, unknown> | undefined;
  try {
    out = JSON.parse(last) as Record<string, unknown>;
  } catch {
    out = undefined;
  }
  return { ...r, out };
}

describe('SIGBUS guard', () => {
  it('absorbs faults of a shrunk memfd mapping: accesses complete, the region is poisoned once', async () => {
    const r = await run('memfd');
    expect(r.signal, r.stderr).toBeNull();
    expect(r.code, r.stderr).toBe(0);
    expect(r.out).toEqual({
      guarded: true,
      before: false,
      poisonedAfterRead: true,
      // The four pages still in the file were read before the fault (8 samples each); from the
      // fault on the whole mapping is zero pages.
      readSum: 32,
      written: 9,
      events: 1,
      faults: 1,
      flag: 1,
      bystander: 3 * 8,
      bystanderPoisoned: false,
    });
  });

  it('absorbs faults of a regular file truncated by another process', async () => {
    const dir = makeTempDir('vfu-guard-');
    onTestFinished(() => dir.remove());
    const r = await run('file', dir.join('backing'));
    expect(r.signal, r.stderr).toBeNull();
    expect(r.out).toEqual({ readSum: 0, poisoned: true, faults: 1 });
  });

  it('still crashes on a fault outside guarded mappings', async () => {
    const r = await run('unguarded');
    expect(r.out).toEqual({ guarded: true, unguarded: false });
    expect(r.signal).toBe('SIGBUS');
    expect(r.stdout).not.toContain('survived');
  });

  it('still terminates on a SIGBUS sent with kill', async () => {
    const r = await run('kill');
    expect(r.signal).toBe('SIGBUS');
    expect(r.stdout).not.toContain('survived');
  });
});
