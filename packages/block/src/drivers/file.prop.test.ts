import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from '@fast-check/vitest';
import { afterAll } from 'vitest';
import { checkAgainstModel, modelBatches } from '../../test/model-io';
import { FileBackend } from './file';

// Random concurrent requests checked against a model; on tmpfs a discard punches a hole, which
// must read back as zeros.
const SIZE = 64 * 1024;
const dir = mkdtempSync('/dev/shm/vfu-block-prop-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

test.prop([modelBatches(SIZE, 12 * 1024)], { numRuns: 40 })(
  'file driver: batches of concurrent requests match a model of the disk',
  async (batches) => {
    const path = join(dir, `img${n++}`);
    const initial = new Uint8Array(SIZE).fill(0x11);
    writeFileSync(path, initial);
    const b = await FileBackend.open({ filename: path, queueDepth: 3 });
    try {
      await checkAgainstModel(b, initial, batches, true);
    } finally {
      await b.close();
    }
  },
);
