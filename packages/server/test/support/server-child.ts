/** Runs test/fixtures/server-process.ts (two endpoints, s0 and s1) in a process of its own. */
import { fileURLToPath } from 'node:url';
import { type ServerProcess, startServerProcess, type TempDir } from '@vfu/test-utils';
import { onTestFinished } from 'vitest';

const SCRIPT = fileURLToPath(new URL('../fixtures/server-process.ts', import.meta.url));
const PACKAGE_DIR = fileURLToPath(new URL('../..', import.meta.url));

export async function startServerChild(dir: TempDir, options: object = {}): Promise<ServerProcess> {
  return startServerProcess({
    // startServerProcess runs `node <script> <args>`: the script position carries node's own flags.
    script: '--import',
    args: ['tsx', '--conditions=@vfu/source', SCRIPT, dir.path, JSON.stringify(options)],
    cwd: PACKAGE_DIR,
    readyPattern: /^ready$/m,
    cleanup: (fn) =>
      onTestFinished(async () => {
        await fn();
      }),
  });
}
