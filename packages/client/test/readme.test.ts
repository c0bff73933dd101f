import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  makeTempDir,
  pointImportsAt,
  readmeExamples,
  referenceServerAvailable,
  startReferenceServer,
} from '@vfu/test-utils';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';

const serverAvailable = referenceServerAvailable();

/** vfu-server serving `devices`, stopped (and its sockets removed) when the test finishes. */
const startServer = (devices: readonly string[]) =>
  startReferenceServer(devices, { cleanup: onTestFinished });

const README = fileURLToPath(new URL('../README.md', import.meta.url));
const SOURCE = fileURLToPath(new URL('../src/index.ts', import.meta.url));

describe('README examples', () => {
  const dir = makeTempDir('vfu-client-readme-');
  afterAll(() => dir.remove());
  const blocks = readmeExamples(README);
  const load = (code: string, i: number) => {
    const file = dir.join(`example-${i}.ts`);
    // The examples import the package by name; point them at this checkout's sources.
    writeFileSync(file, pointImportsAt(code, { '@vfu/client': SOURCE }));
    return import(/* @vite-ignore */ file);
  };

  it('has both examples', () => {
    expect(blocks.length).toBe(2);
  });

  it.skipIf(!serverAvailable)('the edu example runs against vfu-server', async () => {
    const { sockets } = await startServer(['edu,id=edu0']);
    process.env.EDU_SOCKET = sockets.edu0;
    try {
      await load(blocks[0] as string, 1);
    } finally {
      delete process.env.EDU_SOCKET;
    }
  });

  it('the config-space example runs', async () => {
    await load(blocks[1] as string, 2);
  });
});
