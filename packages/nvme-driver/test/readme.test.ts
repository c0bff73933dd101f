import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pointImportsAt, readmeExamples } from '@vfu/test-utils';
import { expect, it, onTestFinished } from 'vitest';
import { startNvmeServer, tempDir } from './server';

const README = fileURLToPath(new URL('../README.md', import.meta.url));
const SOURCE = fileURLToPath(new URL('../src/index.ts', import.meta.url));
const CLIENT = fileURLToPath(new URL('../../client/src/index.ts', import.meta.url));

it('the README example runs against a real server process', async () => {
  const blocks = readmeExamples(README);
  expect(blocks).toHaveLength(1);
  const t = tempDir();
  onTestFinished(() => t.remove());
  const image = join(t.dir, 'disk.img');
  writeFileSync(image, '');
  truncateSync(image, 64 << 20);
  const server = await startNvmeServer(`file:${image}`, [], t.dir);
  onTestFinished(() => server.stop());
  const file = join(t.dir, 'example.ts');
  writeFileSync(file, pointImportsAt(blocks[0]!, { '@vfu/nvme-driver': SOURCE, '@vfu/client': CLIENT }));
  process.env.NVME_SOCKET = server.socketPath;
  try {
    await import(/* @vite-ignore */ file);
  } finally {
    delete process.env.NVME_SOCKET;
  }
});
