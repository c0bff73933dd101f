// Where lspci is missing, its suite skips with one line naming pciutils, and fails under CI: run
// here by pointing VFU_LSPCI at a binary that does not exist.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runProcess } from '@vfu/test-utils';
import { describe, expect, it } from 'vitest';

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
// vitest is the workspace's (root) dev dependency: resolved from here as Node would.
const VITEST = join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs');

function runLspciSuite(env: Record<string, string>) {
  const base = { ...process.env };
  delete base.CI;
  return runProcess(process.execPath, [VITEST, 'run', 'test/lspci.test.ts'], {
    cwd: PACKAGE_DIR,
    env: { ...base, VFU_LSPCI: 'vfu-no-such-lspci', ...env },
    timeoutMs: 60_000,
  });
}

describe('the lspci suite without lspci', () => {
  it('skips outside CI with one line naming the Debian package', async () => {
    const run = await runLspciSuite({});
    const out = run.stdout + run.stderr;
    expect(run.code, out).toBe(0);
    const lines = out.split('\n').filter((l) => l.includes('vfu-no-such-lspci not found'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('skipped: vfu-no-such-lspci not found: install the Debian package pciutils');
  });

  it('fails under CI', async () => {
    const run = await runLspciSuite({ CI: 'true' });
    const out = run.stdout + run.stderr;
    expect(run.code, out).not.toBe(0);
    expect(out).toContain('CI runs the suites that need it');
  });
});
