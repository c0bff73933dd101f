import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from '@fast-check/vitest';
import { makeTempDir } from '@vfu/test-utils';
import { afterAll, beforeAll, describe } from 'vitest';
import { NbdBackend } from '../src/index';
import { checkAgainstModel, modelBatches } from './model-io';
import { nbdToolMissing } from './nbd-servers';

// The NBD client against nbdkit's memory plugin: many requests in flight at once, split into
// several scatter-gather views, with structured replies; TRIMmed bytes are unspecified.
const SIZE = 256 * 1024;
const missing = nbdToolMissing('nbdkit');
if (missing) console.log(`skipping the nbd property test: ${missing}`);

describe.skipIf(missing !== undefined)('nbd driver against a model', () => {
  const dir = makeTempDir('vfu-nbdprop-');
  const sock = dir.join('nbd.sock');
  let stop: () => Promise<void> = async () => {};
  beforeAll(async () => {
    const child = spawn('nbdkit', ['-f', '--exit-with-parent', '-U', sock, 'memory', `size=${SIZE}`], {
      stdio: 'ignore',
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    stop = async () => {
      child.kill('SIGKILL');
      await exited;
    };
    for (let i = 0; i < 300 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 20));
  });
  afterAll(async () => {
    await stop();
    dir.remove();
  });

  test.prop([modelBatches(SIZE, 40 * 1024)], { numRuns: 30 })(
    'batches of concurrent requests match a model of the disk',
    async (batches) => {
      const b = await NbdBackend.open({ server: { type: 'unix', path: sock }, queueDepth: 4 });
      try {
        const initial = new Uint8Array(SIZE).fill(0x22);
        await b.writev(0, initial);
        await checkAgainstModel(b, initial, batches, false);
      } finally {
        await b.close();
      }
    },
  );
});
