import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const README = fileURLToPath(new URL('../README.md', import.meta.url));
const SOURCE = fileURLToPath(new URL('../src/index.ts', import.meta.url));

/** The ```ts blocks of the README, in order. */
function examples(): string[] {
  const text = readFileSync(README, 'utf8');
  return [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] as string);
}

describe('README examples', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vfu-protocol-readme-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const blocks = examples();

  it('has the runnable examples', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(3);
  });

  blocks.forEach((code, i) => {
    it(`example ${i + 1} runs and its assertions hold`, async () => {
      const file = join(dir, `example-${i + 1}.ts`);
      // The examples import the package by name; point them at this checkout's sources.
      writeFileSync(file, code.replaceAll("from '@vfu/protocol'", `from ${JSON.stringify(SOURCE)}`));
      await import(/* @vite-ignore */ file);
    });
  });
});
