/**
 * Builds `dist/doorbell.js` when it is missing or older than the source, so `vitest run` here
 * alone tests the current code (turbo's test->build dependency does the same in CI).
 */
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

const mtime = (path: string): number => {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
};

export default function setup(): void {
  if (mtime(join(root, 'dist', 'doorbell.js')) >= mtime(join(root, 'src', 'doorbell.ts'))) return;
  const tsup = join(dirname(createRequire(import.meta.url).resolve('tsup')), 'cli-default.js');
  execFileSync(process.execPath, [tsup], { cwd: root, stdio: 'ignore' });
}
