/**
 * Builds `dist/cli.js` when it is missing or older than a source file, so `vitest run` in this
 * package alone tests the current code (turbo's test->build dependency does the same in CI).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

export default function setup(): void {
  let built = 0;
  try {
    built = statSync(join(root, 'dist', 'cli.js')).mtimeMs;
  } catch {
    built = 0;
  }
  if (built < newestMtime(join(root, 'src'))) {
    const tsup = join(dirname(createRequire(import.meta.url).resolve('tsup')), 'cli-default.js');
    execFileSync(process.execPath, [tsup], {
      cwd: root,
      stdio: 'inherit',
    });
  }
}
