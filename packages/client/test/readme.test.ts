import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { serverAvailable, startServer } from './server';

const README = fileURLToPath(new URL('../README.md', import.meta.url));
const SOURCE = fileURLToPath(new URL('../src/index.ts', import.meta.url));

/** The ```ts blocks of the README, in order. */
function examples(): string[] {
  return [...readFileSync(README, 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] as string);
}

describe('README examples', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vfu-client-readme-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const blocks = examples();
  const load = (code: string, i: number) => {
    const file = join(dir, `example-${i}.ts`);
    // The examples import the package by name; point them at this checkout's sources.
    writeFileSync(file, code.replaceAll("from '@vfu/client'", `from ${JSON.stringify(SOURCE)}`));
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
