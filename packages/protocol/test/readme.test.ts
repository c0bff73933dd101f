import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { makeTempDir, pointImportsAt, readmeExamples } from '@vfu/test-utils';
import { afterAll, describe, expect, it } from 'vitest';

const README = fileURLToPath(new URL('../README.md', import.meta.url));
const SOURCE = fileURLToPath(new URL('../src/index.ts', import.meta.url));

describe('README examples', () => {
  const dir = makeTempDir('vfu-protocol-readme-');
  afterAll(() => dir.remove());
  const blocks = readmeExamples(README);

  it('has the runnable examples', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(3);
  });

  blocks.forEach((code, i) => {
    it(`example ${i + 1} runs and its assertions hold`, async () => {
      const file = dir.join(`example-${i + 1}.ts`);
      // The examples import the package by name; point them at this checkout's sources.
      writeFileSync(file, pointImportsAt(code, { '@vfu/protocol': SOURCE }));
      await import(/* @vite-ignore */ file);
    });
  });
});
